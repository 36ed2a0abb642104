"""The few containerd API messages pycadvisor uses, encoded and decoded by hand.

containerd speaks gRPC with protobuf messages (``github.com/containerd/containerd/api``). Only
five calls are needed: ``containers.v1.Containers/Get``, ``tasks.v1.Tasks/Get``,
``version.v1.Version/Version``, ``events.v1.Events/Subscribe`` and the event payloads
(``containerd.events.TaskStart/TaskExit/TaskDelete/ContainerUpdate/ContainerDelete``). Decoding
them by hand (:mod:`.wire`, :mod:`.messages`) keeps the protobuf runtime and generated stubs out
of the daemon: no version coupling between generated code and ``protobuf``, and a decoder that
reads only the fields used and skips the rest (the OCI spec inside a container stays raw JSON
bytes until its ``process.env`` is needed). Field numbers are those of the ``.proto`` files named
in each message's docstring; protobuf's wire format keeps them stable across containerd 1.x/2.x.

Transport is ``grpclib`` (pure-Python gRPC over asyncio) with :class:`.codec.MessageCodec`.
"""

from __future__ import annotations
