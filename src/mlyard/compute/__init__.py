"""Resources, instance types, the scheduler and the executors that start job runners."""
