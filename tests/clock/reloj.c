/*
 * reloj.c: moves a PostgreSQL server's wall clock, for the test layer that
 * checks that no test depends on the date (scripts/test.sh, layer "another
 * clock and zone"; scripts/lib.sh builds it and preloads it into the server).
 *
 * AUDIT_TEST_CLOCK_START holds the instant (Unix seconds) at which the server's
 * clock starts; from there it runs at the real pace. Only the wall clock
 * (gettimeofday, time, clock_gettime with CLOCK_REALTIME) moves: the offset is
 * fixed when the postmaster loads the library and is inherited by every
 * backend it forks.
 *
 * Why not libfaketime: it also wraps epoll_wait, and a SIGALRM arriving while
 * a backend waits there reads the real clock inside PostgreSQL's timeout
 * handler, which then finds no timeout due: lock_timeout and
 * statement_timeout never fire.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long offset_ns;
static int (*real_clock_gettime)(clockid_t, struct timespec *);

__attribute__((constructor)) static void
reloj_init(void)
{
	const char *start = getenv("AUDIT_TEST_CLOCK_START");
	struct timespec now;

	real_clock_gettime = (int (*)(clockid_t, struct timespec *)) dlsym(RTLD_NEXT, "clock_gettime");
	if (start == NULL || real_clock_gettime == NULL || real_clock_gettime(CLOCK_REALTIME, &now) != 0)
		return;
	offset_ns = (atoll(start) - (long long) now.tv_sec) * 1000000000LL - now.tv_nsec;
}

static int
is_wall_clock(clockid_t id)
{
	return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	long long ns;
	int rc = real_clock_gettime(id, ts);

	if (rc != 0 || !is_wall_clock(id))
		return rc;
	ns = (long long) ts->tv_sec * 1000000000LL + ts->tv_nsec + offset_ns;
	ts->tv_sec = ns / 1000000000LL;
	ts->tv_nsec = ns % 1000000000LL;
	return 0;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	(void) tz;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t
time(time_t *out)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (time_t) -1;
	if (out != NULL)
		*out = ts.tv_sec;
	return ts.tv_sec;
}
