"""The container contract and the job runner. Imports only the standard library (and the store),
because a runner starts for every job and its start-up time is every job's overhead."""
