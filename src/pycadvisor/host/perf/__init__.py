"""Perf event counters per container (cAdvisor ``perf/``): the ``-perf_events_config`` file, event names,
``perf_event_open(2)`` on each CPU in the container's perf_event cgroup, and the group reads."""
