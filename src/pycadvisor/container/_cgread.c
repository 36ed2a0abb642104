/*
 * pycadvisor.container._cgread: read and parse a held cgroup/procfs file descriptor in one call.
 *
 * The collector re-reads each container's files every sample with pread at offset 0 (cgroupfs and
 * procfs seq files regenerate their content on each read at offset 0: fs/seq_file.c seq_read_iter).
 * In Python each read allocated a 16 KiB bytes object, and parsing split memory.stat's ~70 lines into
 * ~140 bytes objects to keep a dozen values. Here the file lands in a stack buffer and only the values
 * asked for become Python ints. The pure-Python twin is pycadvisor.container.fdread.PyFdReader; both
 * give the same results (tests/container/test_fdread.py) and the collector works with either.
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

PyDoc_STRVAR(read_int_doc,
             "read_int(fd, /)\n--\n\n"
             "The file's one integer (surrounding whitespace allowed); None when the file is empty.");

static PyObject *cg_read_int(PyObject *self, PyObject *arg) {
    (void)self;
    int fd;
    FileBuf b;
    if (fd_arg(arg, &fd) < 0 || read_all(fd, &b) < 0) return NULL;
    const char *s = b.data, *e = b.data + b.len;
    while (s < e && is_space(*s)) s++;
    while (e > s && is_space(e[-1])) e--;
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
    PyObject *keys = args[1];
    if (!PyTuple_CheckExact(keys)) {
        PyErr_SetString(PyExc_TypeError, "keys must be a tuple of bytes");
        return NULL;
    }
    Py_ssize_t nk = PyTuple_GET_SIZE(keys);
    if (nk > MAX_KEYS) {
        PyErr_SetString(PyExc_ValueError, "too many keys");
        return NULL;
    }
    const char *kp[MAX_KEYS];
    Py_ssize_t kl[MAX_KEYS];
    for (Py_ssize_t i = 0; i < nk; i++) {
        PyObject *k = PyTuple_GET_ITEM(keys, i);
        if (!PyBytes_CheckExact(k)) {
            PyErr_SetString(PyExc_TypeError, "keys must be a tuple of bytes");
            return NULL;
        }
        kp[i] = PyBytes_AS_STRING(k);
        kl[i] = PyBytes_GET_SIZE(k);
    }
    int fd;
    FileBuf b;
    if (fd_arg(args[0], &fd) < 0 || read_all(fd, &b) < 0) return NULL;
    PyObject *out = PyTuple_New(nk);
    if (out == NULL) goto done;
    const char *p = b.data, *e = b.data + b.len;
    while (p < e) {
        const char *line_end = memchr(p, '\n', (size_t)(e - p));
        if (line_end == NULL) line_end = e;
        const char *k = p;
        while (p < line_end && *p != ' ') p++;
        size_t klen = (size_t)(p - k);
        for (Py_ssize_t i = 0; i < nk; i++) {
            if ((size_t)kl[i] != klen || memcmp(kp[i], k, klen) != 0) continue;
            const char *v = p;
            while (v < line_end && is_space(*v)) v++;
            const char *ve = v;
            while (ve < line_end && !is_space(*ve)) ve++;
            PyObject *n = make_int(v, (size_t)(ve - v));
            if (n == NULL) {
                Py_CLEAR(out);
                goto done;
            }
            PyObject *old = PyTuple_GET_ITEM(out, i);
            PyTuple_SET_ITEM(out, i, n);
            Py_XDECREF(old);
            break;
        }
        p = line_end + 1;
    }
    for (Py_ssize_t i = 0; i < nk; i++)
        if (PyTuple_GET_ITEM(out, i) == NULL) PyTuple_SET_ITEM(out, i, Py_NewRef(Py_None));
done:
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

static PyMethodDef methods[] = {
    {"read_int", cg_read_int, METH_O, read_int_doc},
    {"read_ints", cg_read_ints, METH_O, read_ints_doc},
    {"read_keyed", (PyCFunction)(void (*)(void))cg_read_keyed, METH_FASTCALL, read_keyed_doc},
    {"read_bytes", cg_read_bytes, METH_O, read_bytes_doc},
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
