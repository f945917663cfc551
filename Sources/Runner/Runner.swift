// Runner module (in progress)
