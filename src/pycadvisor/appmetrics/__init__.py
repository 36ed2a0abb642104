"""Application metrics: cAdvisor's ``collector`` package.

A container declares endpoints with labels ``io.cadvisor.metric.<name>=<config file in its root>``
(:mod:`.config`); each endpoint is polled at its own frequency, off the housekeeping path, from the
container's network namespace when the address is container-local (:mod:`.fetch`, :mod:`.poller`);
the answer is read as Prometheus text or by the generic collector's regular expressions (:mod:`.parse`).
"""
