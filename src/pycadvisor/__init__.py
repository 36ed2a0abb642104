"""pycadvisor: a container and host resource monitor that speaks cAdvisor's interfaces."""

__version__ = "0.1.0"
