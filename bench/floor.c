/*
 * The floor of collection: the same kernel files as the daemon, held open and re-read with
 * pread(fd, buf, 64 KiB, 0), nothing parsed (performance.md §1, variant "C-pread").
 *
 * usage: floor <paths-file> <seconds-per-round> <rounds> [<pause-ms>]
 *
 * Opens every path of <paths-file> (one per line) once. A sweep preads every file at offset 0
 * (cgroupfs and procfs seq files return fresh content on each pread at offset 0), reading on at
 * the next offset while a file fills the buffer. Sweeps run back to back for <seconds-per-round>
 * (at least 10 per round); each sweep's CPU time is taken with CLOCK_THREAD_CPUTIME_ID. Prints
 * one JSON object: the median sweep CPU time per round and the median of those.
 *
 * With <pause-ms> > 0 the sweeps are paced instead: one sweep, then a sleep, as a collector at a
 * 1 s interval runs, so caches are as cold as the daemon finds them; a round is then 10 sweeps.
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

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s <paths-file> <seconds-per-round> <rounds> [<pause-ms>]\n", argv[0]);
        return 2;
    }
    double seconds = atof(argv[2]);
    int rounds = atoi(argv[3]);
    long pause_ms = argc == 5 ? atol(argv[4]) : 0;
    struct timespec pause = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
    if (rounds < 1) rounds = 1;

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
        size_t ns_count = 0;
        long long wall_end = ns(CLOCK_MONOTONIC) + (long long)(seconds * 1e9);
        while (ns_count < 10 || (!pause_ms && ns(CLOCK_MONOTONIC) < wall_end)) {
            if (pause_ms) nanosleep(&pause, NULL);
            long long sweep_bytes = 0;
            long long t0 = ns(CLOCK_THREAD_CPUTIME_ID);
            for (size_t i = 0; i < nfd; i++) {
                off_t off = 0;
                ssize_t got;
                while ((got = pread(fds[i], buf, BUF, off)) == BUF) off += got;
                if (got < 0)
                    errors++;
                else
                    sweep_bytes += off + got;
            }
            long long t1 = ns(CLOCK_THREAD_CPUTIME_ID);
            if (ns_count == scap) sweep = realloc(sweep, (scap *= 2) * sizeof *sweep);
            sweep[ns_count++] = t1 - t0;
            bytes = sweep_bytes;
        }
        total_sweeps += ns_count;
        round_med[r] = median(sweep, ns_count);
    }
    printf("{\"impl\": \"c\", \"files\": %zu, \"unopened\": %zu, \"read_errors\": %lld, \"rounds\": %d, "
           "\"pause_ms\": %ld, \"sweeps\": %lld, \"bytes_per_sweep\": %lld, \"round_median_sweep_ns\": [",
           nfd, unopened, errors, rounds, pause_ms, total_sweeps, bytes);
    for (int r = 0; r < rounds; r++) printf("%s%lld", r ? ", " : "", round_med[r]);
    printf("], \"median_sweep_ns\": %lld}\n", median(round_med, rounds));
    return 0;
}
