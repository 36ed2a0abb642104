/*
 * pycadvisor.metrics._expfmt, the declared value readers: what spec.py's MetricSpec.path/scale, samples and each
 * declare, read from the stats objects with no Python call (their Python twins: spec.py path_reader,
 * samples_reader, items_reader). Linked into the same extension as _expfmt.c, whose writer calls them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_expfmt_read.h"

#define EXACT_INT (1LL << 53) /* every integer below this converts to a float64 exactly */

/* Sequence item i of a list or tuple (borrowed). */
#define ITEM(seq, i) (PyList_Check(seq) ? PyList_GET_ITEM(seq, i) : PyTuple_GET_ITEM(seq, i))

/* A declared reader (spec.py MetricSpec.path/scale, its Python twin spec.path_reader): `path`, a tuple of
 * attribute names walked from the object, None at any step giving None; the value divided by `scale` (a float)
 * unless it is NULL. Returns a new reference, or NULL with an error set. The division is Python's own: an int
 * below 2**53 converts to the same double PyLong_AsDouble gives (exactly), and Objects/floatobject.c float_div
 * divides the two doubles, as this does; anything else goes through PyNumber_TrueDivide. */
PyObject *ef_read_path(PyObject *o, PyObject *path, PyObject *scale, double scale_d) {
    PyObject *v = Py_NewRef(o);
    Py_ssize_t k = PyTuple_GET_SIZE(path);
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *next = PyObject_GetAttr(v, PyTuple_GET_ITEM(path, j));
        Py_DECREF(v);
        if (next == NULL || next == Py_None) return next;
        v = next;
    }
    if (scale == NULL) return v;
    PyObject *r;
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (x == -1 && PyErr_Occurred()) {
            Py_DECREF(v);
            return NULL;
        }
        r = !overflow && x > -EXACT_INT && x < EXACT_INT ? PyFloat_FromDouble((double)x / scale_d)
                                                         : PyNumber_TrueDivide(v, scale);
    } else if (PyFloat_CheckExact(v)) {
        r = PyFloat_FromDouble(PyFloat_AS_DOUBLE(v) / scale_d);
    } else {
        r = PyNumber_TrueDivide(v, scale);
    }
    Py_DECREF(v);
    return r;
}

/* The scale of a declared reader: NULL (None) or a float, its value in *d; -1 with an error set. */
int ef_parse_scale(PyObject *o, PyObject **scale, double *d) {
    *scale = NULL;
    *d = 1.0;
    if (o == Py_None) return 0;
    if (!PyFloat_CheckExact(o)) {
        PyErr_SetString(PyExc_TypeError, "read: the scale must be a float or None");
        return -1;
    }
    *scale = o;
    *d = PyFloat_AS_DOUBLE(o);
    return 0;
}

int ef_check_path(PyObject *path) {
    if (!PyTuple_Check(path) || PyTuple_GET_SIZE(path) == 0) {
        PyErr_SetString(PyExc_TypeError, "read: a path is a non-empty tuple of attribute names");
        return -1;
    }
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(path); j++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(path, j))) {
            PyErr_SetString(PyExc_TypeError, "read: attribute names must be str");
            return -1;
        }
    }
    return 0;
}

/* Declared samples (spec.py MetricSpec.samples, its Python twin spec.samples_reader): `pairs` a tuple of
 * ((extra values...), path); the list of ((extra values...), value) for each path that reads a value. */
PyObject *ef_read_samples(PyObject *o, PyObject *pairs, PyObject *scale, double scale_d) {
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(pairs); j++) {
        PyObject *pair = PyTuple_GET_ITEM(pairs, j);
        PyObject *v = ef_read_path(o, PyTuple_GET_ITEM(pair, 1), scale, scale_d);
        if (v == NULL) goto fail;
        if (v == Py_None) {
            Py_DECREF(v);
            continue;
        }
        PyObject *sample = PyTuple_Pack(2, PyTuple_GET_ITEM(pair, 0), v);
        Py_DECREF(v);
        if (sample == NULL) goto fail;
        int bad = PyList_Append(out, sample);
        Py_DECREF(sample);
        if (bad < 0) goto fail;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* Declared items (spec.py MetricSpec.each, its Python twin spec.items_reader): per item of the list (or tuple)
 * at `each` from `o` (None or empty: no samples), ((its `labels` attributes...), its value read through `path`),
 * items whose value is None left out. */
PyObject *ef_read_items(PyObject *o, PyObject *each, PyObject *labels, PyObject *path, PyObject *scale,
                            double scale_d) {
    PyObject *seq = ef_read_path(o, each, NULL, 1.0);
    if (seq == NULL) return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL || seq == Py_None) {
        Py_DECREF(seq);
        return out;
    }
    if (!PyList_Check(seq) && !PyTuple_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "read: `each` must lead to a list or tuple");
        goto fail;
    }
    for (Py_ssize_t j = 0; j < Py_SIZE(seq); j++) {
        PyObject *item = ITEM(seq, j);
        PyObject *v = ef_read_path(item, path, scale, scale_d);
        if (v == NULL) goto fail;
        if (v == Py_None) {
            Py_DECREF(v);
            continue;
        }
        Py_ssize_t k = PyTuple_GET_SIZE(labels);
        PyObject *ev = PyTuple_New(k);
        if (ev == NULL) {
            Py_DECREF(v);
            goto fail;
        }
        for (Py_ssize_t a = 0; a < k; a++) {
            PyObject *lv = PyObject_GetAttr(item, PyTuple_GET_ITEM(labels, a));
            if (lv == NULL) {
                Py_DECREF(ev);
                Py_DECREF(v);
                goto fail;
            }
            PyTuple_SET_ITEM(ev, a, lv);
        }
        PyObject *sample = PyTuple_Pack(2, ev, v);
        Py_DECREF(ev);
        Py_DECREF(v);
        if (sample == NULL) goto fail;
        int bad = PyList_Append(out, sample);
        Py_DECREF(sample);
        if (bad < 0) goto fail;
    }
    Py_DECREF(seq);
    return out;
fail:
    Py_DECREF(seq);
    Py_XDECREF(out);
    return NULL;
}
