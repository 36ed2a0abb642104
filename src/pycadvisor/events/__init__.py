"""Container events: creation, deletion, OOM and OOM kill; stored, queried and streamed."""
