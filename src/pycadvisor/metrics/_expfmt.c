/*
 * pycadvisor.metrics._expfmt: write /metrics series straight into one growing byte buffer.
 *
 * The renderer (metrics/render.py) hands a whole family at a time: the family name, per container its
 * cached label text (str; ASCII strs are read in place, others through their cached UTF-8), its timestamp
 * tail, and the reader that gives its value(s). Per series this writes name, labels, " ", the value as Go's
 * strconv.FormatFloat(v, 'g', -1, 64) writes it (prometheus/common expfmt/text_create.go writeFloat) and
 * the tail, with no Python object per series. Families come in name order, so the buffer is the response:
 * it is a bytes object handed out as the body, and written again in place at the next scrape once the last
 * body was let go (nothing else holds it), so a scrape copies each byte once into memory already mapped. The pure-Python twin is pycadvisor.metrics.expfmt.PyWriter: both give the
 * same bytes (tests/metrics/test_expfmt.py) and the renderer works with either.
 */
#define _GNU_SOURCE /* qsort_r with a context argument (glibc) */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_expfmt_float.h"
#include "_expfmt_read.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static PyObject *ef_format_value(PyObject *Py_UNUSED(mod), PyObject *v) {
    char buf[48];
    Py_ssize_t n = ef_format(buf, v);
    if (n < 0) return NULL;
    return PyUnicode_FromStringAndSize(buf, n);
}

/* ------------------------------------------------------------------ the writer */

typedef struct {
    PyObject_HEAD
    PyObject *out; /* the bytes object written into: the body being made, or the last one handed out */
    char *buf;     /* its bytes */
    Py_ssize_t len, cap;
} Writer;

/* Large bodies (a 1000-container scrape with compose labels is 150 MB) are written into memory never touched
 * before: with 4 KiB pages each first touch is a page fault, measured here at 2-3 us in this VM, ten times the
 * copy itself. Asking for transparent huge pages (mm/khugepaged.c, "madvise" mode) makes that one fault per
 * 2 MiB. Only the page-aligned interior is advised; a failure (no THP) changes nothing but speed. */
#define HUGE_FROM (4 << 20)

static void advise_huge(char *p, Py_ssize_t n) {
#ifdef MADV_HUGEPAGE
    if (n < HUGE_FROM) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), b = ((uintptr_t)p + (uintptr_t)n) & ~(page - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

/* A bytes object of `cap` bytes (and the NUL after them) to write into; -1 with an error set. */
static int alloc_out(Writer *w, Py_ssize_t cap) {
    w->out = PyBytes_FromStringAndSize(NULL, cap);
    if (w->out == NULL) return -1;
    w->buf = PyBytes_AS_STRING(w->out);
    w->cap = cap;
    advise_huge(w->buf, cap);
    return 0;
}

static int reserve(Writer *w, Py_ssize_t more) {
    if (w->out != NULL && w->len + more <= w->cap) return 0;
    Py_ssize_t cap = w->cap > 65536 ? w->cap : 65536;
    while (cap < w->len + more) cap *= 2;
    if (w->out == NULL) return alloc_out(w, cap);
    /* Only the writer holds `out` while a body is made (reset() saw to it): it may be resized. */
    if (_PyBytes_Resize(&w->out, cap) < 0) {
        w->buf = NULL;
        w->len = w->cap = 0;
        return -1;
    }
    w->buf = PyBytes_AS_STRING(w->out);
    advise_huge(w->buf + w->len, cap - w->len);
    w->cap = cap;
    return 0;
}

static inline int put(Writer *w, const char *s, Py_ssize_t n) {
    if (reserve(w, n) < 0) return -1;
    memcpy(w->buf + w->len, s, (size_t)n);
    w->len += n;
    return 0;
}

/* A str (its UTF-8, read in place when ASCII) or bytes. */
static int put_text(Writer *w, PyObject *o) {
    Py_ssize_t n;
    const char *s;
    if (PyUnicode_Check(o)) {
        s = PyUnicode_AsUTF8AndSize(o, &n);
        if (s == NULL) return -1;
    } else if (PyBytes_Check(o)) {
        s = PyBytes_AS_STRING(o);
        n = PyBytes_GET_SIZE(o);
    } else {
        PyErr_Format(PyExc_TypeError, "want str or bytes, got %.80s", Py_TYPE(o)->tp_name);
        return -1;
    }
    return put(w, s, n);
}

/* A label value with expfmt's escapes: backslash, double quote, newline (text_create.go escapeString). */
static int put_escaped(Writer *w, PyObject *o) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(o, &n);
    if (s == NULL) return -1;
    if (reserve(w, 2 * n) < 0) return -1;
    char *p = w->buf + w->len;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' || c == '"') {
            *p++ = '\\';
            *p++ = c;
        } else if (c == '\n') {
            *p++ = '\\';
            *p++ = 'n';
        } else {
            *p++ = c;
        }
    }
    w->len = p - w->buf;
    return 0;
}

static int put_value(Writer *w, PyObject *v) {
    if (reserve(w, 48) < 0) return -1;
    Py_ssize_t n = ef_format(w->buf + w->len, v);
    if (n < 0) return -1;
    w->len += n;
    return 0;
}

static void writer_dealloc(Writer *w) {
    Py_XDECREF(w->out);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

static int writer_init(Writer *w, PyObject *args, PyObject *kwds) {
    Py_ssize_t hint = 0;
    static char *kwlist[] = {"capacity", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|n", kwlist, &hint)) return -1;
    Py_CLEAR(w->out);
    w->buf = NULL;
    w->len = w->cap = 0;
    if (hint > 0 && alloc_out(w, hint) < 0) return -1;
    return 0;
}

static PyObject *writer_tell(Writer *w, PyObject *Py_UNUSED(ignored)) { return PyLong_FromSsize_t(w->len); }

/* Start a new body. The last body is written over only when nothing but the writer holds it any more (the
 * response was sent and dropped); else it is left to its holders and a new buffer of the same size is made. */
static PyObject *writer_reset(Writer *w, PyObject *Py_UNUSED(ignored)) {
    w->len = 0;
    if (w->out == NULL) Py_RETURN_NONE;
    if (Py_REFCNT(w->out) != 1) {
        Py_CLEAR(w->out);
        w->buf = NULL;
        Py_RETURN_NONE;
    }
    /* Back to its full size; _PyBytes_Resize also forgets a hash computed by an earlier holder. The allocation
     * is already that big (finish() only lowered the visible size), so nothing moves. */
    if (_PyBytes_Resize(&w->out, w->cap) < 0) {
        w->buf = NULL;
        w->cap = 0;
        return NULL;
    }
    w->buf = PyBytes_AS_STRING(w->out);
    Py_RETURN_NONE;
}

/* The body: the bytes object itself, its size lowered to what was written (its allocation keeps the capacity,
 * which the next scrape reuses). */
static PyObject *writer_finish(Writer *w, PyObject *Py_UNUSED(ignored)) {
    /* One spare byte at least, so that reset()'s resize back to the capacity is a real one (one that forgets
     * the hash: _PyBytes_Resize returns early when the size is unchanged). */
    if (reserve(w, 1) < 0) return NULL;
    Py_SET_SIZE(w->out, w->len);
    w->buf[w->len] = '\0';
    return Py_NewRef(w->out);
}

/* Drop what was written after `pos` (a family that turned out to have no series). */
static PyObject *writer_truncate(Writer *w, PyObject *arg) {
    Py_ssize_t pos = PyLong_AsSsize_t(arg);
    if (pos == -1 && PyErr_Occurred()) return NULL;
    if (pos < 0 || pos > w->len) {
        PyErr_SetString(PyExc_ValueError, "truncate: position outside what was written");
        return NULL;
    }
    w->len = pos;
    Py_RETURN_NONE;
}

static PyObject *writer_write(Writer *w, PyObject *s) {
    if (put_text(w, s) < 0) return NULL;
    Py_RETURN_NONE;
}

/* Sequence item i of a list or tuple (borrowed). */
#define ITEM(seq, i) (PyList_Check(seq) ? PyList_GET_ITEM(seq, i) : PyTuple_GET_ITEM(seq, i))

static int check_seq(PyObject *o, const char *what, Py_ssize_t n) {
    if (!PyList_Check(o) && !PyTuple_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s: want a list or tuple", what);
        return -1;
    }
    if (n >= 0 && Py_SIZE(o) != n) {
        PyErr_Format(PyExc_ValueError, "%s: want %zd items", what, n);
        return -1;
    }
    return 0;
}

/* family(name, read, objs, labels, tails) -> count: per i whose value read(objs[i]) (objs[i] itself when
 * read is None) is not None, `name labels[i] " " value tails[i]`. `read` may also be a declared path:
 * a tuple (attribute names, scale or None), read by ef_read_path (_expfmt_read.c) with no Python call. */
static PyObject *writer_family(Writer *w, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "family(name, read, objs, labels, tails)");
        return NULL;
    }
    PyObject *name = args[0], *read = args[1], *objs = args[2], *labels = args[3], *tails = args[4];
    if (check_seq(objs, "objs", -1) < 0) return NULL;
    Py_ssize_t n = Py_SIZE(objs);
    if (check_seq(labels, "labels", n) < 0 || check_seq(tails, "tails", n) < 0) return NULL;
    PyObject *path = NULL, *scale = NULL;
    double scale_d = 1.0;
    if (PyTuple_Check(read)) {
        if (PyTuple_GET_SIZE(read) != 2) {
            PyErr_SetString(PyExc_TypeError, "read: want a callable, None or ((attribute names...), scale)");
            return NULL;
        }
        path = PyTuple_GET_ITEM(read, 0);
        if (ef_check_path(path) < 0 || ef_parse_scale(PyTuple_GET_ITEM(read, 1), &scale, &scale_d) < 0) return NULL;
    }
    Py_ssize_t name_len;
    const char *name_s = PyUnicode_AsUTF8AndSize(name, &name_len);
    if (name_s == NULL) return NULL;
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = ITEM(objs, i);
        PyObject *v;
        if (path != NULL) {
            v = ef_read_path(o, path, scale, scale_d);
            if (v == NULL) return NULL;
        } else if (read == Py_None) {
            v = Py_NewRef(o);
        } else {
            v = PyObject_CallOneArg(read, o);
            if (v == NULL) return NULL;
        }
        if (v == Py_None) {
            Py_DECREF(v);
            continue;
        }
        int bad = put(w, name_s, name_len) < 0 || put_text(w, ITEM(labels, i)) < 0 || put(w, " ", 1) < 0 ||
                  put_value(w, v) < 0 || put_text(w, ITEM(tails, i)) < 0;
        Py_DECREF(v);
        if (bad) return NULL;
        count++;
    }
    return PyLong_FromSsize_t(count);
}

typedef struct {
    Py_ssize_t row, seq;
    PyObject *ev; /* borrowed from the row's samples, kept alive by `keep` */
    PyObject *v;
} Entry;

typedef struct {
    const long *ranks;
    int lead;
    int failed;
} SortCtx;

static int entry_cmp(const void *pa, const void *pb, void *pctx) {
    const Entry *a = pa, *b = pb;
    SortCtx *ctx = pctx;
    for (int k = 0; k < ctx->lead; k++) {
        long ra = ctx->ranks[a->row * ctx->lead + k], rb = ctx->ranks[b->row * ctx->lead + k];
        if (ra != rb) return ra < rb ? -1 : 1;
        int c = PyUnicode_Compare(PyTuple_GET_ITEM(a->ev, k), PyTuple_GET_ITEM(b->ev, k));
        if (c == -1 && PyErr_Occurred()) {
            ctx->failed = 1;
            return 0;
        }
        if (c) return c;
    }
    return a->seq < b->seq ? -1 : (a->seq > b->seq);
}

/* multi(name, read, objs, segs, tails, ranks, escape, sort) -> count.
 *
 * A family with extra labels: read(objs[i]) gives row i's samples ((extra values...), value), sorted by
 * their extra values through sort() unless already in order, the first of equal ones kept. A series is
 * `name segs[i][0] ev[0] segs[i][1] ... ev[k-1] segs[i][k] " " value tails[i]`, extra values escaped when
 * `escape`. With ranks (per row a tuple of `lead` ints), series are ordered by (rank[0], ev[0], rank[1],
 * ev[1], ...) and then as generated: render.py's merge of leading extra labels across containers. `read` may
 * also be declared samples: a tuple (((extra values...), path)..., scale), read by ef_read_samples; or declared
 * items: a tuple (each, each_labels, path, scale), read by ef_read_items (_expfmt_read.c). */
static PyObject *writer_multi(Writer *w, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "multi(name, read, objs, segs, tails, ranks, escape, sort)");
        return NULL;
    }
    PyObject *name = args[0], *read = args[1], *objs = args[2], *segs = args[3], *tails = args[4];
    PyObject *ranks = args[5], *sort = args[7];
    int escape = PyObject_IsTrue(args[6]);
    if (escape < 0) return NULL;
    PyObject *pairs = NULL, *scale = NULL, *each = NULL, *each_labels = NULL, *path = NULL;
    double scale_d = 1.0;
    if (PyTuple_Check(read) && PyTuple_GET_SIZE(read) == 4) {
        each = PyTuple_GET_ITEM(read, 0);
        each_labels = PyTuple_GET_ITEM(read, 1);
        path = PyTuple_GET_ITEM(read, 2);
        if (ef_check_path(each) < 0 || ef_check_path(each_labels) < 0 || ef_check_path(path) < 0 ||
            ef_parse_scale(PyTuple_GET_ITEM(read, 3), &scale, &scale_d) < 0)
            return NULL;
    } else if (PyTuple_Check(read)) {
        if (PyTuple_GET_SIZE(read) != 2 || !PyTuple_Check(PyTuple_GET_ITEM(read, 0))) {
            PyErr_SetString(PyExc_TypeError, "read: want a callable or ((((extra values...), path)...), scale)");
            return NULL;
        }
        pairs = PyTuple_GET_ITEM(read, 0);
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(pairs); j++) {
            PyObject *pair = PyTuple_GET_ITEM(pairs, j);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyTuple_Check(PyTuple_GET_ITEM(pair, 0))) {
                PyErr_SetString(PyExc_TypeError, "read: want ((extra values...), path) pairs");
                return NULL;
            }
            if (ef_check_path(PyTuple_GET_ITEM(pair, 1)) < 0) return NULL;
        }
        if (ef_parse_scale(PyTuple_GET_ITEM(read, 1), &scale, &scale_d) < 0) return NULL;
    }
    if (check_seq(objs, "objs", -1) < 0) return NULL;
    Py_ssize_t n = Py_SIZE(objs);
    if (check_seq(segs, "segs", n) < 0 || check_seq(tails, "tails", n) < 0) return NULL;
    if (ranks != Py_None && check_seq(ranks, "ranks", n) < 0) return NULL;
    Py_ssize_t name_len;
    const char *name_s = PyUnicode_AsUTF8AndSize(name, &name_len);
    if (name_s == NULL) return NULL;

    PyObject *keep = PyList_New(0);
    if (keep == NULL) return NULL;
    Entry *entries = NULL;
    long *rk = NULL;
    Py_ssize_t ne = 0, cap = 0;
    int lead = 0;
    PyObject *result = NULL;

    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = ITEM(objs, i);
        PyObject *samples = each != NULL    ? ef_read_items(o, each, each_labels, path, scale, scale_d)
                            : pairs != NULL ? ef_read_samples(o, pairs, scale, scale_d)
                                            : PyObject_CallOneArg(read, o);
        if (samples == NULL) goto done;
        PyObject *fast = PySequence_Fast(samples, "samples: want a sequence");
        Py_DECREF(samples);
        if (fast == NULL) goto done;
        Py_ssize_t m = PySequence_Fast_GET_SIZE(fast);
        PyObject **items = PySequence_Fast_ITEMS(fast);
        for (Py_ssize_t j = 0; j < m; j++) {
            if (!PyTuple_Check(items[j]) || PyTuple_GET_SIZE(items[j]) != 2 ||
                !PyTuple_Check(PyTuple_GET_ITEM(items[j], 0))) {
                PyErr_SetString(PyExc_TypeError, "samples: want ((extra values...), value) tuples");
                Py_DECREF(fast);
                goto done;
            }
        }
        int sorted = 1;
        for (Py_ssize_t j = 1; j < m && sorted; j++) {
            int lt = PyObject_RichCompareBool(PyTuple_GET_ITEM(items[j], 0), PyTuple_GET_ITEM(items[j - 1], 0), Py_LT);
            if (lt < 0) {
                Py_DECREF(fast);
                goto done;
            }
            sorted = !lt;
        }
        if (!sorted) {
            PyObject *s = PyObject_CallOneArg(sort, fast);
            Py_DECREF(fast);
            if (s == NULL) goto done;
            fast = PySequence_Fast(s, "sort(): want a sequence");
            Py_DECREF(s);
            if (fast == NULL) goto done;
            m = PySequence_Fast_GET_SIZE(fast);
            items = PySequence_Fast_ITEMS(fast);
        }
        int kept = PyList_Append(keep, fast);
        Py_DECREF(fast); /* `keep` holds it */
        if (kept < 0) goto done;
        PyObject *prev = NULL;
        for (Py_ssize_t j = 0; j < m; j++) {
            PyObject *ev = PyTuple_GET_ITEM(items[j], 0);
            if (prev != NULL) {
                int eq = PyObject_RichCompareBool(ev, prev, Py_EQ);
                if (eq < 0) goto done;
                if (eq) continue; /* the same series twice: the first wins, as the Go registry keeps one */
            }
            prev = ev;
            if (ne == cap) {
                cap = cap ? 2 * cap : 256;
                Entry *e = PyMem_Realloc(entries, (size_t)cap * sizeof(Entry));
                if (e == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
                entries = e;
            }
            entries[ne] = (Entry){.row = i, .seq = ne, .ev = ev, .v = PyTuple_GET_ITEM(items[j], 1)};
            ne++;
        }
    }

    if (ranks != Py_None && ne > 1) {
        lead = n ? (int)PyTuple_GET_SIZE(ITEM(ranks, 0)) : 0;
        rk = PyMem_Malloc(sizeof(long) * (size_t)(n * lead + 1));
        if (rk == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *t = ITEM(ranks, i);
            if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != lead) {
                PyErr_SetString(PyExc_ValueError, "ranks: want tuples of one length");
                goto done;
            }
            for (int k = 0; k < lead; k++) {
                rk[i * lead + k] = PyLong_AsLong(PyTuple_GET_ITEM(t, k));
                if (rk[i * lead + k] == -1 && PyErr_Occurred()) goto done;
            }
        }
        for (Py_ssize_t e = 0; e < ne; e++) {
            PyObject *ev = entries[e].ev;
            if (PyTuple_GET_SIZE(ev) < lead) {
                PyErr_SetString(PyExc_ValueError, "samples: fewer extra values than ranks");
                goto done;
            }
            for (int k = 0; k < lead; k++) {
                if (!PyUnicode_Check(PyTuple_GET_ITEM(ev, k))) {
                    PyErr_SetString(PyExc_TypeError, "samples: extra label values must be str");
                    goto done;
                }
            }
        }
        SortCtx ctx = {.ranks = rk, .lead = lead, .failed = 0};
        qsort_r(entries, (size_t)ne, sizeof(Entry), entry_cmp, &ctx);
        if (ctx.failed) goto done;
    }

    for (Py_ssize_t e = 0; e < ne; e++) {
        Entry *en = &entries[e];
        PyObject *sg = ITEM(segs, en->row);
        Py_ssize_t k = PyTuple_GET_SIZE(en->ev);
        if (!PyTuple_Check(sg) || PyTuple_GET_SIZE(sg) != k + 1) {
            PyErr_SetString(PyExc_ValueError, "segs: want one more piece than extra values");
            goto done;
        }
        if (put(w, name_s, name_len) < 0 || put_text(w, PyTuple_GET_ITEM(sg, 0)) < 0) goto done;
        for (Py_ssize_t j = 0; j < k; j++) {
            PyObject *val = PyTuple_GET_ITEM(en->ev, j);
            if ((escape ? put_escaped(w, val) : put_text(w, val)) < 0) goto done;
            if (put_text(w, PyTuple_GET_ITEM(sg, j + 1)) < 0) goto done;
        }
        if (put(w, " ", 1) < 0 || put_value(w, en->v) < 0 || put_text(w, ITEM(tails, en->row)) < 0) goto done;
    }
    result = PyLong_FromSsize_t(ne);
done:
    PyMem_Free(entries);
    PyMem_Free(rk);
    Py_DECREF(keep);
    return result;
}

static PyMethodDef writer_methods[] = {
    {"tell", (PyCFunction)writer_tell, METH_NOARGS, "The position a block starts or ends at."},
    {"reset", (PyCFunction)writer_reset, METH_NOARGS, "Start a new body (in place when the last was let go)."},
    {"truncate", (PyCFunction)writer_truncate, METH_O, "Drop what was written after a position."},
    {"finish", (PyCFunction)writer_finish, METH_NOARGS, "The body written since reset(), as bytes."},
    {"write", (PyCFunction)writer_write, METH_O, "Append text (str or bytes)."},
    {"family", (PyCFunction)(void (*)(void))writer_family, METH_FASTCALL, "One sample per object."},
    {"multi", (PyCFunction)(void (*)(void))writer_multi, METH_FASTCALL, "Samples with extra labels."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject WriterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pycadvisor.metrics._expfmt.Writer",
    .tp_basicsize = sizeof(Writer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A growing byte buffer the exposition's families are written into.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)writer_init,
    .tp_dealloc = (destructor)writer_dealloc,
    .tp_methods = writer_methods,
};

static PyMethodDef methods[] = {
    {"format_value", ef_format_value, METH_O, "Go's strconv.FormatFloat(float64(v), 'g', -1, 64)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_expfmt",
    .m_doc = "Write Prometheus text exposition series into one byte buffer.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__expfmt(void) {
    if (PyType_Ready(&WriterType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Writer", (PyObject *)&WriterType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
