// Counters module (in progress)
