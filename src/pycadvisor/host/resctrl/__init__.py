"""Intel RDT / AMD QoS monitoring through the resctrl filesystem (cAdvisor ``resctrl/intel``): a monitoring
group per container, its tasks written in, its per-domain ``mon_data`` read."""
