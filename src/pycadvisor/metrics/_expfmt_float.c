/*
 * Go's strconv.FormatFloat(v, 'g', -1, 64) for pycadvisor.metrics._expfmt: a /metrics series' value text as
 * prometheus/common expfmt/text_create.go writeFloat writes it; the rules are those of the pure-Python twin,
 * pycadvisor.metrics.textformat.format_value (tests/metrics/test_expfmt.py checks both against Go's output).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_expfmt_float.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ Go float formatting */

#define EXACT_INT (1LL << 53) /* every integer below this is a float64 whose shortest digits are its own */

/* The decimal digits of `a` into `out` (no NUL); their number. printf costs several times this per value. */
static int utoa(char *out, unsigned long long a) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + a % 10);
        a /= 10;
    } while (a);
    for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

/* Write |digits| (no leading or trailing zeros, nd >= 1) with decimal point position dp (value =
 * 0.D x 10^dp) as Go's 'g' with shortest precision: %e when exp < -4 || exp >= 6 (strconv/ftoa.go). */
static Py_ssize_t go_digits(char *out, int neg, const char *d, int nd, int dp) {
    char *p = out;
    if (neg) *p++ = '-';
    int exp = dp - 1;
    if (exp < -4 || exp >= 6) {
        *p++ = d[0];
        if (nd > 1) {
            *p++ = '.';
            memcpy(p, d + 1, (size_t)(nd - 1));
            p += nd - 1;
        }
        *p++ = 'e';
        *p++ = exp < 0 ? '-' : '+';
        int a = exp < 0 ? -exp : exp;
        if (a < 10) {
            *p++ = '0';
            *p++ = (char)('0' + a);
        } else {
            p += utoa(p, (unsigned long long)a);
        }
    } else if (dp <= 0) {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -dp; i++) *p++ = '0';
        memcpy(p, d, (size_t)nd);
        p += nd;
    } else if (dp >= nd) {
        memcpy(p, d, (size_t)nd);
        p += nd;
        for (int i = nd; i < dp; i++) *p++ = '0';
    } else {
        memcpy(p, d, (size_t)dp);
        p += dp;
        *p++ = '.';
        memcpy(p, d + dp, (size_t)(nd - dp));
        p += nd - dp;
    }
    return p - out;
}

static Py_ssize_t format_ll(char *out, long long v) {
    char tmp[24];
    int neg = v < 0;
    unsigned long long a = neg ? (unsigned long long)(-v) : (unsigned long long)v;
    if (a < 1000000) {
        if (neg) *out = '-';
        return neg + utoa(out + neg, a);
    }
    int n = utoa(tmp, a);
    int nd = n;
    while (nd > 1 && tmp[nd - 1] == '0') nd--;
    return go_digits(out, neg, tmp, nd, n);
}

/* out: at least 40 bytes. Returns the length, or -1 with a Python error set. */
static Py_ssize_t format_double(char *out, double v) {
    if (isnan(v)) {
        memcpy(out, "NaN", 3);
        return 3;
    }
    if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 4);
        return 4;
    }
    if (v == 0) {
        if (signbit(v)) {
            memcpy(out, "-0", 2);
            return 2;
        }
        out[0] = '0';
        return 1;
    }
    if (v == floor(v) && fabs(v) < (double)EXACT_INT) return format_ll(out, (long long)v);
    /* Shortest round-trip digits, as Python's repr and Go's -1 precision both give them. */
    char *r = PyOS_double_to_string(v, 'r', 0, 0, NULL);
    if (r == NULL) return -1;
    const char *s = r;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    char d[32];
    int nd = 0, dp = 0, seen_point = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s == '.') {
            seen_point = 1;
            continue;
        }
        if (nd == 0 && *s == '0') { /* a leading zero: before the point it adds nothing, after it shifts */
            if (seen_point) dp--;
            continue;
        }
        if (nd < (int)sizeof d) d[nd++] = *s;
        if (!seen_point) dp++;
    }
    if (*s == 'e') dp += atoi(s + 1);
    PyMem_Free(r);
    while (nd > 1 && d[nd - 1] == '0') nd--;
    return go_digits(out, neg, d, nd, dp);
}

/* The value of a reader: int, bool or float. Returns the length, or -1 with a Python error set. */
Py_ssize_t ef_format(char *out, PyObject *v) {
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (x == -1 && PyErr_Occurred()) return -1;
        if (!overflow && x > -EXACT_INT && x < EXACT_INT) return format_ll(out, x);
        double d = PyLong_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) return -1;
        return format_double(out, d);
    }
    if (PyBool_Check(v)) {
        out[0] = v == Py_True ? '1' : '0';
        return 1;
    }
    double d = PyFloat_AsDouble(v);
    if (d == -1.0 && PyErr_Occurred()) return -1;
    return format_double(out, d);
}

