/*
 * bcrypt-rate.c: how many bcrypt cost-10 hashes per second this machine
 * can do, one thread per core (or -t N), with crypt_r from libcrypt as
 * chat-fcgi uses it.  POST /auth/login does one such hash, so this is
 * the ceiling of logins/s; t/bench/rest divides the measured login
 * rate by it.
 *
 * Build:  gcc -O2 -Wall -Wextra -pthread -o bcrypt-rate \
 *             t/bench/bcrypt-rate.c -lcrypt
 * Usage:  bcrypt-rate [-d seconds] [-t threads] [-c cost]
 * Prints "bcrypt cost 10: N hashes in S s on T threads = R/s (X ms each)".
 */
#include <crypt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char		 setting[CRYPT_GENSALT_OUTPUT_SIZE];
static double		 secs = 3.0;
static volatile int	 stop;

struct	worker {
	pthread_t	 th;
	unsigned long	 n;
	int		 bad;
};

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
run(void *arg)
{
	struct worker		*w = arg;
	struct crypt_data	*cd;
	const char		*h;

	if ((cd = calloc(1, sizeof(*cd))) == NULL) {
		w->bad = 1;
		return NULL;
	}
	while (!stop) {
		h = crypt_r("correct horse battery", setting, cd);
		if (h == NULL || h[0] == '*') {
			w->bad = 1;
			break;
		}
		w->n++;
	}
	free(cd);
	return NULL;
}

int
main(int argc, char *argv[])
{
	struct worker	*w;
	struct timespec	 ts;
	unsigned long	 total = 0;
	double		 t0, t1;
	long		 nt;
	int		 ch, i, cost = 10, bad = 0;

	nt = sysconf(_SC_NPROCESSORS_ONLN);
	while ((ch = getopt(argc, argv, "d:t:c:")) != -1) {
		switch (ch) {
		case 'd': secs = atof(optarg); break;
		case 't': nt = atol(optarg); break;
		case 'c': cost = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (nt < 1 || nt > 256 || secs <= 0 || secs > 600 || cost < 4 ||
	    cost > 16)
		goto usage;
	if (crypt_gensalt_rn("$2b$", cost, "0123456789abcdef", 16, setting,
	    sizeof(setting)) == NULL) {
		perror("crypt_gensalt_rn");
		return 1;
	}
	if ((w = calloc(nt, sizeof(*w))) == NULL) {
		perror("calloc");
		return 1;
	}
	t0 = now();
	for (i = 0; i < nt; i++)
		if (pthread_create(&w[i].th, NULL, run, &w[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
	stop = 1;
	for (i = 0; i < nt; i++) {
		pthread_join(w[i].th, NULL);
		total += w[i].n;
		bad |= w[i].bad;
	}
	t1 = now();
	if (bad || total == 0) {
		fprintf(stderr, "bcrypt-rate: crypt_r failed\n");
		return 1;
	}
	printf("bcrypt cost %d: %lu hashes in %.2f s on %ld threads = %.1f/s"
	    " (%.1f ms each per thread)\n", cost, total, t1 - t0, nt,
	    total / (t1 - t0), 1000.0 * (t1 - t0) * nt / total);
	printf("RESULT bcrypt_cost=%d threads=%ld rate=%.1f\n", cost, nt,
	    total / (t1 - t0));
	free(w);
	return 0;
usage:
	fprintf(stderr,
	    "usage: bcrypt-rate [-d secs] [-t threads] [-c cost]\n");
	return 2;
}
