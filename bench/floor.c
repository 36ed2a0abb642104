/*
 * The floor of collection: the same kernel files as the daemon, held open and re-read with
 * pread(fd, buf, 64 KiB, 0), nothing parsed (bench/README.md, "floor").
 *
 * usage: floor <paths-file> <seconds-per-round> <rounds> [<pause-ms> [<ticks>]]
 *
 * Opens every path of <paths-file> (one per line) once. A sweep preads every file at offset 0
 * (cgroupfs and procfs seq files return fresh content on each pread at offset 0), reading on at
 * the next offset while a file fills the buffer. Sweeps run back to back for <seconds-per-round>
 * (at least 10 per round); each sweep's CPU time is taken with CLOCK_THREAD_CPUTIME_ID. Prints
 * one JSON object: the median sweep CPU time per round and the median of those.
 *
 * With <pause-ms> > 0 the reads follow the daemon's schedule instead: every file is read once per
 * period of <pause-ms>, in <ticks> wake-ups (default 1), each a nanosleep of <pause-ms>/<ticks>
 * and then one contiguous slice of the files, [t*n/ticks, (t+1)*n/ticks). The daemon at
 * -housekeeping_interval=1s ticks every 250 ms and samples about a quarter of its containers per
 * tick, so with the paths grouped by container and <ticks> 4 this is its pattern of reads and
 * wake-ups. A round is 10 periods; its value is the process CPU (CLOCK_PROCESS_CPUTIME_ID, taken
 * before the first sleep and after the last read, so the cost of waking up is counted as it is in
 * the daemon's CPU) divided by 10: CPU per full sweep, wake-ups included. Caches are as cold as
 * the daemon finds them.
 *
 * Built by bench/floor.py with the system compiler: cc -O2 -o floor floor.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BUF (64 * 1024)
#define PERIODS 10 /* full sweeps per paced round */

static long long ns(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static long long median(long long *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_ll);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* pread fds[lo, hi) at offset 0 (on while a file fills the buffer); returns the bytes read. */
static long long read_files(const int *fds, size_t lo, size_t hi, char *buf, long long *errors) {
    long long bytes = 0;
    for (size_t i = lo; i < hi; i++) {
        off_t off = 0;
        ssize_t got;
        while ((got = pread(fds[i], buf, BUF, off)) == BUF) off += got;
        if (got < 0)
            (*errors)++;
        else
            bytes += off + got;
    }
    return bytes;
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: %s <paths-file> <seconds-per-round> <rounds> [<pause-ms> [<ticks>]]\n", argv[0]);
        return 2;
    }
    double seconds = atof(argv[2]);
    int rounds = atoi(argv[3]);
    long pause_ms = argc >= 5 ? atol(argv[4]) : 0;
    long ticks = argc == 6 ? atol(argv[5]) : 1;
    if (rounds < 1) rounds = 1;
    if (ticks < 1) ticks = 1;
    /* One wake-up's sleep, in ns: pause_ms need not divide by ticks. */
    long long tick_ns = pause_ms * 1000000LL / ticks;
    struct timespec tick_sleep = {tick_ns / 1000000000LL, tick_ns % 1000000000LL};

    /* As many descriptors as the hard limit allows (one per file, held). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    FILE *list = fopen(argv[1], "r");
    if (!list) {
        perror(argv[1]);
        return 1;
    }
    size_t cap = 1024, nfd = 0, unopened = 0;
    int *fds = malloc(cap * sizeof *fds);
    char line[4096];
    while (fgets(line, sizeof line, list)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0]) continue;
        int fd = open(line, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            unopened++;
            continue;
        }
        if (nfd == cap) fds = realloc(fds, (cap *= 2) * sizeof *fds);
        fds[nfd++] = fd;
    }
    fclose(list);

    char *buf = malloc(BUF);
    size_t scap = 4096;
    long long *sweep = malloc(scap * sizeof *sweep);
    long long *round_med = malloc(rounds * sizeof *round_med);
    long long total_sweeps = 0, bytes = 0, errors = 0;
    for (int r = 0; r < rounds; r++) {
        if (pause_ms) {
            /* Whole periods, whole process: the sleeps' wake-ups are part of the cost. */
            long long t0 = ns(CLOCK_PROCESS_CPUTIME_ID);
            for (int p = 0; p < PERIODS; p++) {
                long long period_bytes = 0;
                for (long t = 0; t < ticks; t++) {
                    nanosleep(&tick_sleep, NULL);
                    period_bytes += read_files(fds, t * nfd / ticks, (t + 1) * nfd / ticks, buf, &errors);
                }
                bytes = period_bytes;
            }
            long long t1 = ns(CLOCK_PROCESS_CPUTIME_ID);
            total_sweeps += PERIODS;
            round_med[r] = (t1 - t0) / PERIODS;
            continue;
        }
        size_t ns_count = 0;
        long long wall_end = ns(CLOCK_MONOTONIC) + (long long)(seconds * 1e9);
        while (ns_count < 10 || ns(CLOCK_MONOTONIC) < wall_end) {
            long long t0 = ns(CLOCK_THREAD_CPUTIME_ID);
            long long sweep_bytes = read_files(fds, 0, nfd, buf, &errors);
            long long t1 = ns(CLOCK_THREAD_CPUTIME_ID);
            if (ns_count == scap) sweep = realloc(sweep, (scap *= 2) * sizeof *sweep);
            sweep[ns_count++] = t1 - t0;
            bytes = sweep_bytes;
        }
        total_sweeps += ns_count;
        round_med[r] = median(sweep, ns_count);
    }
    printf("{\"impl\": \"c\", \"files\": %zu, \"unopened\": %zu, \"read_errors\": %lld, \"rounds\": %d, "
           "\"pause_ms\": %ld, \"ticks\": %ld, \"sweeps\": %lld, \"bytes_per_sweep\": %lld, "
           "\"round_median_sweep_ns\": [",
           nfd, unopened, errors, rounds, pause_ms, ticks, total_sweeps, bytes);
    for (int r = 0; r < rounds; r++) printf("%s%lld", r ? ", " : "", round_med[r]);
    printf("], \"median_sweep_ns\": %lld}\n", median(round_med, rounds));
    return 0;
}
