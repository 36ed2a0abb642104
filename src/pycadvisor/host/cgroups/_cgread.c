/*
 * pycadvisor.host.cgroups._cgread: read and parse a held cgroup/procfs file descriptor in one call.
 *
 * The collector re-reads each container's files every sample with pread at offset 0 (cgroupfs and
 * procfs seq files regenerate their content on each read at offset 0: fs/seq_file.c seq_read_iter).
 * In Python each read allocated a 16 KiB bytes object, and parsing split memory.stat's ~70 lines into
 * ~140 bytes objects to keep a dozen values. Here the file lands in a stack buffer and only the values
 * asked for become Python ints. The pure-Python twin is pycadvisor.host.cgroups.fdread.PyFdReader; both
 * give the same results (tests/host/cgroups/test_fdread.py; test_collector.py: the same samples) and the
 * collector works with either.
 *
 * Errors: a failed pread raises OSError with its errno (ENODEV once the cgroup is gone); content that is
 * not what the function expects raises ValueError. The GIL stays held: these reads do not block
 * (cgroupfs and procfs generate content from memory), and releasing it would cost more than a read.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cgroup files are far smaller (memory.stat: 1-3 KiB); larger files continue on the heap. */
#define STACK_BUF 16384
#define MAX_KEYS 64

typedef struct {
    char stack[STACK_BUF];
    char *heap;
    const char *data;
    size_t len;
} FileBuf;

static ssize_t pread_retry(int fd, char *buf, size_t n, off_t off) {
    ssize_t got;
    do {
        got = pread(fd, buf, n, off);
    } while (got < 0 && errno == EINTR);
    return got;
}

/* Read the whole file from offset 0; 0 on success, -1 with a Python OSError set. */
static int read_all(int fd, FileBuf *b) {
    b->heap = NULL;
    ssize_t got = pread_retry(fd, b->stack, STACK_BUF, 0);
    if (got < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    b->data = b->stack;
    b->len = (size_t)got;
    if (got < STACK_BUF) return 0;
    size_t cap = 4 * STACK_BUF, len = (size_t)got;
    char *h = malloc(cap);
    if (h == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(h, b->stack, len);
    for (;;) {
        if (len == cap) {
            char *bigger = realloc(h, cap * 2);
            if (bigger == NULL) {
                free(h);
                PyErr_NoMemory();
                return -1;
            }
            h = bigger;
            cap *= 2;
        }
        got = pread_retry(fd, h + len, cap - len, (off_t)len);
        if (got < 0) {
            free(h);
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        if (got == 0) break;
        len += (size_t)got;
    }
    b->heap = h;
    b->data = h;
    b->len = len;
    return 0;
}

static void release(FileBuf *b) {
    free(b->heap);
    b->heap = NULL;
}

static int is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* A decimal integer token [-]digits as a Python int; NULL with ValueError if it is not one. */
static PyObject *make_int(const char *s, size_t n) {
    size_t i = 0;
    int neg = 0;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n) goto bad;
    if (n - i <= 18) { /* fits in 63 bits: the common case, no allocation but the int */
        unsigned long long v = 0;
        for (; i < n; i++) {
            unsigned d = (unsigned)(s[i] - '0');
            if (d > 9) goto bad;
            v = v * 10 + d;
        }
        return neg ? PyLong_FromLongLong(-(long long)v) : PyLong_FromUnsignedLongLong(v);
    }
    for (size_t j = i; j < n; j++)
        if ((unsigned)(s[j] - '0') > 9) goto bad;
    { /* long counters (u64 max is 20 digits): let Python convert */
        char tmp[64];
        if (n >= sizeof tmp) goto bad;
        memcpy(tmp, s, n);
        tmp[n] = 0;
        return PyLong_FromString(tmp, NULL, 10);
    }
bad:
    {
        PyObject *tok = PyBytes_FromStringAndSize(s, (Py_ssize_t)(n > 40 ? 40 : n));
        if (tok != NULL) {
            PyErr_Format(PyExc_ValueError, "not an integer: %R", tok);
            Py_DECREF(tok);
        }
    }
    return NULL;
}

/* Strip surrounding whitespace from [*s, *e). */
static void trim(const char **s, const char **e) {
    while (*s < *e && is_space(**s)) (*s)++;
    while (*e > *s && is_space((*e)[-1])) (*e)--;
}

typedef struct {
    const char *p; /* NULL: the key is not in the file */
    size_t n;
} Token;

/* The value token of each of keys[0..nk) in "key value" lines; a key on several lines: its last. Lines
   of other keys are not looked at (whatever their shape: PSI lines, for one). */
static void find_keyed(const char *data, size_t len, const char *const *kp, const size_t *kl, Py_ssize_t nk,
                       Token *tok) {
    for (Py_ssize_t i = 0; i < nk; i++) tok[i].p = NULL;
    const char *p = data, *e = data + len;
    while (p < e) {
        const char *line_end = memchr(p, '\n', (size_t)(e - p));
        if (line_end == NULL) line_end = e;
        const char *k = p;
        while (p < line_end && *p != ' ') p++;
        size_t klen = (size_t)(p - k);
        for (Py_ssize_t i = 0; i < nk; i++) {
            if (kl[i] != klen || memcmp(kp[i], k, klen) != 0) continue;
            const char *v = p;
            while (v < line_end && is_space(*v)) v++;
            const char *ve = v;
            while (ve < line_end && !is_space(*ve)) ve++;
            tok[i].p = v;
            tok[i].n = (size_t)(ve - v);
            break;
        }
        p = line_end + 1;
    }
}

static int fd_arg(PyObject *o, int *fd) {
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (v < 0 || v > 0x7fffffff) {
        PyErr_SetString(PyExc_ValueError, "bad file descriptor");
        return -1;
    }
    *fd = (int)v;
    return 0;
}

/* The keys of a tuple of bytes (at most MAX_KEYS) into kp/kl; their count, or -1 with TypeError. */
static Py_ssize_t keys_arg(PyObject *keys, const char **kp, size_t *kl) {
    if (!PyTuple_CheckExact(keys)) {
        PyErr_SetString(PyExc_TypeError, "keys must be a tuple of bytes");
        return -1;
    }
    Py_ssize_t nk = PyTuple_GET_SIZE(keys);
    if (nk > MAX_KEYS) {
        PyErr_SetString(PyExc_ValueError, "too many keys");
        return -1;
    }
    for (Py_ssize_t i = 0; i < nk; i++) {
        PyObject *k = PyTuple_GET_ITEM(keys, i);
        if (!PyBytes_CheckExact(k)) {
            PyErr_SetString(PyExc_TypeError, "keys must be a tuple of bytes");
            return -1;
        }
        kp[i] = PyBytes_AS_STRING(k);
        kl[i] = (size_t)PyBytes_GET_SIZE(k);
    }
    return nk;
}

PyDoc_STRVAR(read_int_doc,
             "read_int(fd, /)\n--\n\n"
             "The file's one integer (surrounding whitespace allowed); None when the file is empty.");

static PyObject *cg_read_int(PyObject *self, PyObject *arg) {
    (void)self;
    int fd;
    FileBuf b;
    if (fd_arg(arg, &fd) < 0 || read_all(fd, &b) < 0) return NULL;
    const char *s = b.data, *e = b.data + b.len;
    trim(&s, &e);
    PyObject *r;
    if (s == e) {
        r = Py_NewRef(Py_None);
    } else {
        r = make_int(s, (size_t)(e - s));
    }
    release(&b);
    return r;
}

PyDoc_STRVAR(read_ints_doc,
             "read_ints(fd, /)\n--\n\n"
             "The file's whitespace-separated integers as a list (cpuacct.usage_percpu).");

static PyObject *cg_read_ints(PyObject *self, PyObject *arg) {
    (void)self;
    int fd;
    FileBuf b;
    if (fd_arg(arg, &fd) < 0 || read_all(fd, &b) < 0) return NULL;
    PyObject *out = PyList_New(0);
    const char *p = b.data, *e = b.data + b.len;
    while (out != NULL) {
        while (p < e && is_space(*p)) p++;
        if (p == e) break;
        const char *t = p;
        while (p < e && !is_space(*p)) p++;
        PyObject *v = make_int(t, (size_t)(p - t));
        if (v == NULL || PyList_Append(out, v) < 0) Py_CLEAR(out);
        Py_XDECREF(v);
    }
    release(&b);
    return out;
}

PyDoc_STRVAR(read_keyed_doc,
             "read_keyed(fd, keys, /)\n--\n\n"
             "The values of ``keys`` (a tuple of bytes) in a flat-keyed file of 'key value' lines\n"
             "(memory.stat, cpu.stat, cpuacct.stat, memory.events), as a tuple in the order of ``keys``;\n"
             "None for a key the file does not have. Other lines are not looked at; a key seen twice\n"
             "keeps its last value.");

static PyObject *cg_read_keyed(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "read_keyed(fd, keys) takes 2 arguments");
        return NULL;
    }
    const char *kp[MAX_KEYS];
    size_t kl[MAX_KEYS];
    Py_ssize_t nk = keys_arg(args[1], kp, kl);
    if (nk < 0) return NULL;
    int fd;
    FileBuf b;
    if (fd_arg(args[0], &fd) < 0 || read_all(fd, &b) < 0) return NULL;
    Token tok[MAX_KEYS];
    find_keyed(b.data, b.len, kp, kl, nk, tok);
    PyObject *out = PyTuple_New(nk);
    for (Py_ssize_t i = 0; out != NULL && i < nk; i++) {
        PyObject *v = tok[i].p == NULL ? Py_NewRef(Py_None) : make_int(tok[i].p, tok[i].n);
        if (v == NULL)
            Py_CLEAR(out);
        else
            PyTuple_SET_ITEM(out, i, v);
    }
    release(&b);
    return out;
}

PyDoc_STRVAR(read_bytes_doc,
             "read_bytes(fd, /)\n--\n\n"
             "The whole file from offset 0, as bytes of its exact size.");

static PyObject *cg_read_bytes(PyObject *self, PyObject *arg) {
    (void)self;
    int fd;
    FileBuf b;
    if (fd_arg(arg, &fd) < 0 || read_all(fd, &b) < 0) return NULL;
    PyObject *r = PyBytes_FromStringAndSize(b.data, (Py_ssize_t)b.len);
    release(&b);
    return r;
}

PyDoc_STRVAR(read_psi_doc,
             "read_psi(fd, /)\n--\n\n"
             "A pressure file (cpu/memory/io.pressure, Documentation/accounting/psi.rst): the 8 values of\n"
             "pycadvisor.model.sample.psi_ints: some total, some avg10/avg60/avg300 as the bits of their\n"
             "doubles, then the same for full. A missing line or key gives 0 (0.0); other keys are skipped.");

/* One "k=v" value: total as an int, avg* as the int64 bits of the double Python's float() gives. */
static PyObject *psi_value(const char *k, size_t kn, const char *v, size_t vn, int *slot) {
    if (kn == 5 && memcmp(k, "total", 5) == 0) {
        *slot = 0;
        return make_int(v, vn);
    }
    if (kn == 5 && memcmp(k, "avg10", 5) == 0)
        *slot = 1;
    else if (kn == 5 && memcmp(k, "avg60", 5) == 0)
        *slot = 2;
    else if (kn == 6 && memcmp(k, "avg300", 6) == 0)
        *slot = 3;
    else {
        *slot = -1;
        return NULL;
    }
    char tmp[64];
    if (vn == 0 || vn >= sizeof tmp) {
        PyErr_SetString(PyExc_ValueError, "bad PSI average");
        return NULL;
    }
    memcpy(tmp, v, vn);
    tmp[vn] = 0;
    char *end;
    double d = PyOS_string_to_double(tmp, &end, NULL); /* the parser float() uses */
    if (d == -1.0 && PyErr_Occurred()) return NULL;
    if (end != tmp + vn) {
        PyErr_Format(PyExc_ValueError, "bad PSI average: %s", tmp);
        return NULL;
    }
    long long bits;
    memcpy(&bits, &d, sizeof bits);
    return PyLong_FromLongLong(bits);
}

static PyObject *cg_read_psi(PyObject *self, PyObject *arg) {
    (void)self;
    int fd;
    FileBuf b;
    if (fd_arg(arg, &fd) < 0 || read_all(fd, &b) < 0) return NULL;
    PyObject *v[8] = {NULL}; /* NULL: 0 (not in the file) */
    int failed = 0;
    const char *p = b.data, *e = b.data + b.len;
    while (!failed && p < e) {
        const char *le = p;
        while (le < e && *le != '\n' && *le != '\r') le++;
        const char *t = p;
        while (t < le && is_space(*t)) t++;
        const char *te = t;
        while (te < le && !is_space(*te)) te++;
        int base = -1;
        if (te - t == 4 && memcmp(t, "some", 4) == 0) base = 0;
        if (te - t == 4 && memcmp(t, "full", 4) == 0) base = 4;
        if (base >= 0) {
            for (int i = 0; i < 4; i++) Py_CLEAR(v[base + i]); /* a later line of the same kind replaces it */
            const char *q = te;
            while (q < le) {
                while (q < le && is_space(*q)) q++;
                if (q == le) break;
                const char *k = q;
                while (q < le && !is_space(*q)) q++;
                const char *eq = memchr(k, '=', (size_t)(q - k));
                const char *val = eq ? eq + 1 : q;
                int slot;
                PyObject *o = psi_value(k, (size_t)((eq ? eq : q) - k), val, (size_t)(q - val), &slot);
                if (slot < 0) continue;
                if (o == NULL) {
                    failed = 1;
                    break;
                }
                Py_XSETREF(v[base + slot], o);
            }
        }
        p = le + 1;
    }
    release(&b);
    PyObject *out = failed ? NULL : PyTuple_New(8);
    for (int i = 0; i < 8; i++) {
        if (out != NULL) {
            PyObject *o = v[i] != NULL ? v[i] : PyLong_FromLong(0);
            if (o == NULL) {
                Py_CLEAR(out);
                continue;
            }
            PyTuple_SET_ITEM(out, i, o); /* steals v[i] */
        } else {
            Py_XDECREF(v[i]);
        }
    }
    return out;
}

/* ---- one call per family: the collector's fast path for its most common families -------------
 *
 * These read several held files and append the family's values to the sample's list in the order
 * of the family's slots (model/sample.py CPU_SLOTS with the per-CPU usage after the first three,
 * MEMORY_SLOTS), each read from the file and key host/cgroups/cpu.py and host/cgroups/memory.py name
 * for it (their V1_ROWS, V2_ROWS); tests/host/cgroups/test_rows.py checks these functions against
 * those tables and their pure-Python twins (fdread.PyFdReader) on the fixture hosts. They handle the plain case only, every file present and well formed: anything
 * else raises, and the collector reads the family again through its general path, which reports the
 * error or the missing member exactly (ContainerGone, ParseError, None). Values beyond int64 raise
 * too (that path clamps them).
 */

static int parse_ll(const char *s, size_t n, long long *out) {
    size_t i = 0;
    int neg = 0;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n || n - i > 18) return -1; /* 18 digits always fit; longer ones go the general way */
    unsigned long long v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9) return -1;
        v = v * 10 + d;
    }
    *out = neg ? -(long long)v : (long long)v;
    return 0;
}

static int fast_fail(const char *what) {
    PyErr_Format(PyExc_ValueError, "%s: not in the plain format", what);
    return -1;
}

/* The file's one integer; an empty file gives `empty` (or fails when empty_ok is 0). */
static int file_ll(int fd, long long *out, int empty_ok, long long empty) {
    FileBuf b;
    if (read_all(fd, &b) < 0) return -1;
    const char *s = b.data, *e = b.data + b.len;
    trim(&s, &e);
    int rc = 0;
    if (s == e) {
        if (empty_ok)
            *out = empty;
        else
            rc = fast_fail("empty file");
    } else if (parse_ll(s, (size_t)(e - s), out) < 0) {
        rc = fast_fail("single value");
    }
    release(&b);
    return rc;
}

/* Values of keys[0..nk) from "key value" lines; absent keys keep 0 and their bit clear in *found. */
static int file_keyed(int fd, const char *const *kp, const size_t *kl, int nk, long long *vals,
                      unsigned long long *found) {
    FileBuf b;
    if (read_all(fd, &b) < 0) return -1;
    Token tok[MAX_KEYS];
    find_keyed(b.data, b.len, kp, kl, nk, tok);
    *found = 0;
    int rc = 0;
    for (int i = 0; i < nk; i++) {
        vals[i] = 0;
        if (tok[i].p == NULL) continue;
        if (parse_ll(tok[i].p, tok[i].n, &vals[i]) < 0) {
            rc = fast_fail("keyed value");
            break;
        }
        *found |= 1ULL << i;
    }
    release(&b);
    return rc;
}

static int append_ll(PyObject *list, long long v) {
    PyObject *o = PyLong_FromLongLong(v);
    if (o == NULL) return -1;
    int rc = PyList_Append(list, o);
    Py_DECREF(o);
    return rc;
}

static int append_lls(PyObject *list, const long long *v, int n) {
    for (int i = 0; i < n; i++)
        if (append_ll(list, v[i]) < 0) return -1;
    return 0;
}

/* cAdvisor's working set (container/libcontainer/handler.go setMemoryStats): usage less inactive_file,
   not below 0; the usage when memory.stat has no inactive_file. host/cgroups/memory.py working_set. */
static long long working_set(long long usage, long long inactive_file, int have_inactive) {
    if (!have_inactive) return usage;
    return usage - inactive_file > 0 ? usage - inactive_file : 0;
}

static int int_arg(PyObject *o, long long *out) {
    *out = PyLong_AsLongLong(o);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

#define MAX_CPUS 4096

PyDoc_STRVAR(v1_cpu_doc,
             "v1_cpu(fd_usage_percpu, fd_cpuacct_stat, fd_cpu_stat, ns_per_tick, vals, /)\n--\n\n"
             "cgroup v1 CPU: appends total (the per-CPU sum), user, system (cpuacct.stat ticks x ns_per_tick),\n"
             "the per-CPU usage, then nr_periods, nr_throttled, throttled_time, 0, 0; returns the CPU count.");

static PyObject *cg_v1_cpu(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5 || !PyList_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError, "v1_cpu(fd_percpu, fd_stat, fd_cfs, ns_per_tick, vals: list)");
        return NULL;
    }
    int fd_percpu, fd_stat, fd_cfs;
    long long tick;
    if (fd_arg(args[0], &fd_percpu) < 0 || fd_arg(args[1], &fd_stat) < 0 || fd_arg(args[2], &fd_cfs) < 0 ||
        int_arg(args[3], &tick) < 0)
        return NULL;
    PyObject *vals = args[4];

    long long percpu[MAX_CPUS]; /* 32 KiB on the stack: no shared state */
    int ncpu = 0;
    long long total = 0;
    {
        FileBuf b;
        if (read_all(fd_percpu, &b) < 0) return NULL;
        const char *p = b.data, *e = b.data + b.len;
        int bad = 0;
        for (;;) {
            while (p < e && is_space(*p)) p++;
            if (p == e) break;
            const char *t = p;
            while (p < e && !is_space(*p)) p++;
            if (ncpu == MAX_CPUS || parse_ll(t, (size_t)(p - t), &percpu[ncpu]) < 0) {
                bad = 1;
                break;
            }
            total += percpu[ncpu++];
        }
        release(&b);
        if (bad || ncpu == 0) {
            fast_fail("cpuacct.usage_percpu");
            return NULL;
        }
    }
    static const char *const stat_keys[] = {"user", "system"};
    static const size_t stat_len[] = {4, 6};
    static const char *const cfs_keys[] = {"nr_periods", "nr_throttled", "throttled_time"};
    static const size_t cfs_len[] = {10, 12, 14};
    long long us[2], cfs[3];
    unsigned long long found;
    if (file_keyed(fd_stat, stat_keys, stat_len, 2, us, &found) < 0) return NULL;
    if (file_keyed(fd_cfs, cfs_keys, cfs_len, 3, cfs, &found) < 0) return NULL;
    if (append_ll(vals, total) < 0 || append_ll(vals, us[0] * tick) < 0 || append_ll(vals, us[1] * tick) < 0)
        return NULL;
    for (int i = 0; i < ncpu; i++)
        if (append_ll(vals, percpu[i]) < 0) return NULL;
    long long tail[5] = {cfs[0], cfs[1], cfs[2], 0, 0};
    if (append_lls(vals, tail, 5) < 0) return NULL;
    return PyLong_FromLong(ncpu);
}

PyDoc_STRVAR(v1_memory_doc,
             "v1_memory(fd_usage, fd_stat, fd_max_usage, fd_failcnt, fd_kmem_usage, keys, vals, /)\n--\n\n"
             "cgroup v1 memory: appends the memory family's 21 values. keys: the 10 memory.stat keys\n"
             "(cache, rss, swap, mapped_file, active_file, inactive_file, with or without total_, then\n"
             "workingset_refault_file, workingset_refault_anon, pgfault, pgmajfault).");

static PyObject *cg_v1_memory(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    const char *kp[MAX_KEYS];
    size_t kl[MAX_KEYS];
    if (nargs != 7 || !PyList_CheckExact(args[6]) || keys_arg(args[5], kp, kl) != 10) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "v1_memory(5 fds, keys: tuple of 10 bytes, vals: list)");
        return NULL;
    }
    int fd[5];
    for (int i = 0; i < 5; i++)
        if (fd_arg(args[i], &fd[i]) < 0) return NULL;
    long long usage, max_usage, failcnt, kmem, st[10];
    unsigned long long found;
    if (file_ll(fd[0], &usage, 0, 0) < 0 || file_keyed(fd[1], kp, kl, 10, st, &found) < 0 ||
        file_ll(fd[2], &max_usage, 1, 0) < 0 || file_ll(fd[3], &failcnt, 1, 0) < 0 || file_ll(fd[4], &kmem, 1, 0) < 0)
        return NULL;
    long long ws = working_set(usage, st[5], (found & (1ULL << 5)) != 0);
    long long out[21] = {
        usage, max_usage, st[0], st[1], st[2], st[3], ws, st[4], st[5], 0, 0, 0, 0,
        st[6], st[7], failcnt, kmem, st[8], st[9], 0, 0,
    };
    if (append_lls(args[6], out, 21) < 0) return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(v2_memory_doc,
             "v2_memory(fd_stat, fd_current, fd_peak, fd_swap_current, fd_events, keys, vals, /)\n--\n\n"
             "cgroup v2 memory: appends the memory family's 21 values. keys: the 13 memory.stat keys (file,\n"
             "anon, file_mapped, active_file, inactive_file, file_dirty, file_writeback, pgscan, pgsteal,\n"
             "workingset_refault_file, workingset_refault_anon, pgfault, pgmajfault). fd_peak, fd_swap_current\n"
             "and fd_events may be -1: a file this kernel does not have (memory.peak before Linux 5.19,\n"
             "memory.swap.* without swap accounting) gives 0, as in the general path.");

static PyObject *cg_v2_memory(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    const char *kp[MAX_KEYS];
    size_t kl[MAX_KEYS];
    if (nargs != 7 || !PyList_CheckExact(args[6]) || keys_arg(args[5], kp, kl) != 13) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "v2_memory(5 fds, keys: tuple of 13 bytes, vals: list)");
        return NULL;
    }
    int fd[5];
    for (int i = 0; i < 5; i++) {
        long v = PyLong_AsLong(args[i]);
        if (v == -1 && PyErr_Occurred()) return NULL;
        if (i >= 2 && v == -1) { /* an optional file this kernel does not have */
            fd[i] = -1;
            continue;
        }
        if (fd_arg(args[i], &fd[i]) < 0) return NULL;
    }
    static const char *const ev_keys[] = {"high", "max"};
    static const size_t ev_len[] = {4, 3};
    long long st[13], usage, peak = 0, swap = 0, ev[2] = {0, 0};
    unsigned long long found, ev_found;
    /* memory.current is empty or missing only at a hierarchy's root: the general path sums anon+file. */
    if (file_keyed(fd[0], kp, kl, 13, st, &found) < 0 || file_ll(fd[1], &usage, 0, 0) < 0) return NULL;
    if (fd[2] >= 0 && file_ll(fd[2], &peak, 1, 0) < 0) return NULL;
    if (fd[3] >= 0 && file_ll(fd[3], &swap, 1, 0) < 0) return NULL;
    if (fd[4] >= 0 && file_keyed(fd[4], ev_keys, ev_len, 2, ev, &ev_found) < 0) return NULL;
    long long ws = working_set(usage, st[4], (found & (1ULL << 4)) != 0);
    long long out[21] = {
        usage, peak, st[0], st[1], swap, st[2], ws, st[3], st[4], st[5], st[6], st[7], st[8],
        st[9], st[10], 0, 0, st[11], st[12], ev[0], ev[1],
    };
    if (append_lls(args[6], out, 21) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"read_int", cg_read_int, METH_O, read_int_doc},
    {"read_ints", cg_read_ints, METH_O, read_ints_doc},
    {"read_keyed", (PyCFunction)(void (*)(void))cg_read_keyed, METH_FASTCALL, read_keyed_doc},
    {"read_bytes", cg_read_bytes, METH_O, read_bytes_doc},
    {"read_psi", cg_read_psi, METH_O, read_psi_doc},
    {"v1_cpu", (PyCFunction)(void (*)(void))cg_v1_cpu, METH_FASTCALL, v1_cpu_doc},
    {"v1_memory", (PyCFunction)(void (*)(void))cg_v1_memory, METH_FASTCALL, v1_memory_doc},
    {"v2_memory", (PyCFunction)(void (*)(void))cg_v2_memory, METH_FASTCALL, v2_memory_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_cgread",
    .m_doc = "Read and parse held cgroup file descriptors in one call.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__cgread(void) { return PyModule_Create(&module); }
