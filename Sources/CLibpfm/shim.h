// CLibpfm: libpfm4 (Debian libpfm4-dev) has no pkg-config file; this module map links -lpfm.
#include <perfmon/pfmlib.h>
#include <perfmon/pfmlib_perf_event.h>
