/* The declared value readers of pycadvisor.metrics._expfmt (_expfmt_read.c); each returns a new reference, or
 * NULL / -1 with a Python error set. */
#ifndef PYCADVISOR_EXPFMT_READ_H
#define PYCADVISOR_EXPFMT_READ_H

#include <Python.h>

/* The value at `path` (a tuple of attribute names) from `o`, divided by `scale` (NULL: not) as Python's `/`. */
PyObject *ef_read_path(PyObject *o, PyObject *path, PyObject *scale, double scale_d);
/* The scale of a declared reader: None (*scale = NULL) or a float. */
int ef_parse_scale(PyObject *o, PyObject **scale, double *d);
/* A path: a non-empty tuple of str. */
int ef_check_path(PyObject *path);
/* The ((extra values...), value) samples of declared `pairs` (((extra values...), path)...). */
PyObject *ef_read_samples(PyObject *o, PyObject *pairs, PyObject *scale, double scale_d);
/* The samples of declared items: one per item of the list at `each`, labelled by its `labels` attributes. */
PyObject *ef_read_items(PyObject *o, PyObject *each, PyObject *labels, PyObject *path, PyObject *scale,
                        double scale_d);

#endif
