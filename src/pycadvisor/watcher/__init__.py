"""Cgroup tree watchers (inotify) that report containers coming and going."""
