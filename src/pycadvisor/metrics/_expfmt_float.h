/* Go float formatting for pycadvisor.metrics._expfmt (_expfmt_float.c). */
#ifndef PYCADVISOR_EXPFMT_FLOAT_H
#define PYCADVISOR_EXPFMT_FLOAT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* The value of a reader (int, bool or float) as Go's FormatFloat(v, 'g', -1, 64) into `out` (at least 40 bytes,
 * no NUL). Returns the length, or -1 with a Python error set. */
Py_ssize_t ef_format(char *out, PyObject *v);

#endif
