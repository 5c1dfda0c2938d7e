/* The active-set step of models/active_set.py:polish, compiled.
 *
 * polish() is the reference; this is the same algorithm, line for line,
 * for programs with a diagonal Hessian (every program mineq builds).  It
 * exists because polish runs after every HiGHS solve and at every
 * fixed-point step: in Python each round is some sixty small numpy calls,
 * and their overhead, not arithmetic, was a third of a whole case's time.
 *
 * Called through ctypes (models/active_set.py), which releases the GIL
 * for the call, so that polish on one thread runs beside Python work on
 * another.  Built as an optional extension module (setup.py); the
 * Python-visible module is empty.  Arrays are float64 (uint8 for flags),
 * row-major, as numpy holds them.  Returns 0 (a KKT point: x, y and the
 * active set written), 1 (no consistent active set: polish returns None)
 * or 2 (a KKT matrix LU cannot solve accurately: the caller runs the
 * Python polish, whose least-squares step handles it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ABI 1

/* the classification of a column (cf) and a row (rf) in one round */
enum { BELOW = 1, ABOVE = 2, WRONG = 4, PUSH_LO = 8, PUSH_UP = 16 };
enum { ROW_LO = 1, ROW_UP = 2, ROW_WRONG = 4 };

int mineq_polish_abi(void) { return ABI; }

/* Solve K s = r in place (r becomes s) by LU with partial pivoting, as
 * LAPACK's dgesv does; 0 on success, -1 on an exactly zero pivot. */
static int lu_solve(int n, double *K, double *r) {
    for (int k = 0; k < n; k++) {
        int p = k;
        double best = fabs(K[(size_t)k * n + k]);
        for (int i = k + 1; i < n; i++) {
            double v = fabs(K[(size_t)i * n + k]);
            if (v > best) { best = v; p = i; }
        }
        if (best == 0.0) return -1;
        if (p != k) {
            for (int j = 0; j < n; j++) {
                double t = K[(size_t)k * n + j]; K[(size_t)k * n + j] = K[(size_t)p * n + j]; K[(size_t)p * n + j] = t;
            }
            double t = r[k]; r[k] = r[p]; r[p] = t;
        }
        double piv = K[(size_t)k * n + k];
        for (int i = k + 1; i < n; i++) {
            double f = K[(size_t)i * n + k] / piv;
            if (f == 0.0) continue;
            K[(size_t)i * n + k] = f;
            double *ri = K + (size_t)i * n, *rk = K + (size_t)k * n;
            for (int j = k + 1; j < n; j++) ri[j] -= f * rk[j];
            r[i] -= f * r[k];
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        double s = r[i];
        for (int j = i + 1; j < n; j++) s -= K[(size_t)i * n + j] * r[j];
        r[i] = s / K[(size_t)i * n + i];
    }
    return 0;
}

static double amax(int n, const double *v) {
    double m = 0.0;
    for (int i = 0; i < n; i++) if (fabs(v[i]) > m) m = fabs(v[i]);
    return m;
}

static int polish(
    int m, int n, const double *A, const double *c, const double *lo, const double *up,
    const double *rlo, const double *rup, const double *hd, double sense,
    const double *x_in, const double *y_in, double tol, int rounds, int strict, int given,
    unsigned char *at_lo, unsigned char *at_up, unsigned char *act_lo, unsigned char *act_up,
    double *x_out, double *y_out)
{
    int status = 1;
    size_t nn = (size_t)n, mm = (size_t)m;
    double *x0 = malloc(sizeof(double) * (nn + 1)), *y0 = malloc(sizeof(double) * (mm + 1));
    double *scale = malloc(sizeof(double) * (nn + 1)), *xf = malloc(sizeof(double) * (nn + 1));
    double *red = malloc(sizeof(double) * (nn + 1)), *ax = malloc(sizeof(double) * (mm + 1));
    double *b = malloc(sizeof(double) * (mm + 1)), *y = malloc(sizeof(double) * (mm + 1));
    int *F = malloc(sizeof(int) * (nn + 1)), *rl = malloc(sizeof(int) * (mm + 1)), *rows = malloc(sizeof(int) * (mm + 1));
    unsigned char *eq = malloc(mm + 1), *ilo = malloc(mm + 1), *iup = malloc(mm + 1), *cf = malloc(nn + 1), *rf = malloc(mm + 1);
    double *K = NULL, *rhs = NULL, *start = NULL, *sol = NULL, *Kc = NULL;
    size_t kcap = 0;
    if (!x0 || !y0 || !scale || !xf || !red || !ax || !b || !y || !F || !rl || !rows || !eq || !ilo || !iup || !cf || !rf) { status = 2; goto done; }
    memcpy(x0, x_in, sizeof(double) * nn);
    memcpy(y0, y_in, sizeof(double) * mm);
    for (int j = 0; j < n; j++) scale[j] = fmax(1.0, fabs(x0[j]));
    for (int i = 0; i < m; i++) {
        eq[i] = isfinite(rlo[i]) && isfinite(rup[i]) && rlo[i] == rup[i];
        ilo[i] = !eq[i] && isfinite(rlo[i]);
        iup[i] = !eq[i] && isfinite(rup[i]);
    }
    if (!given) {
        for (int j = 0; j < n; j++) {
            at_lo[j] = isfinite(lo[j]) && fabs(x0[j] - lo[j]) <= tol * fmax(1.0, fabs(lo[j]));
            at_up[j] = isfinite(up[j]) && fabs(x0[j] - up[j]) <= tol * fmax(1.0, fabs(up[j])) && !at_lo[j];
        }
        for (int i = 0; i < m; i++) {
            double s = 0.0;
            for (int j = 0; j < n; j++) s += A[(size_t)i * n + j] * x0[j];
            double rs = fmax(1.0, fabs(s));
            act_lo[i] = ilo[i] && fabs(s - rlo[i]) <= tol * rs;
            act_up[i] = iup[i] && fabs(s - rup[i]) <= tol * rs && !act_lo[i];
        }
    } else {
        for (int j = 0; j < n; j++) {
            at_lo[j] = at_lo[j] && isfinite(lo[j]);
            at_up[j] = at_up[j] && isfinite(up[j]) && !at_lo[j];
        }
        for (int i = 0; i < m; i++) {
            act_lo[i] = act_lo[i] && ilo[i];
            act_up[i] = act_up[i] && iup[i] && !act_lo[i];
        }
    }
    for (int round = 0; round < rounds; round++) {
        int nrows = 0, nF = 0, nr = 0;
        for (int i = 0; i < m; i++)
            if (eq[i] || act_lo[i] || act_up[i]) { rows[nrows] = i; b[nrows] = act_up[i] ? rup[i] : rlo[i]; nrows++; }
        for (int j = 0; j < n; j++) {
            xf[j] = at_lo[j] ? lo[j] : (at_up[j] ? up[j] : x0[j]);
            if (!(at_lo[j] || at_up[j])) F[nF++] = j;
        }
        /* a row with no free variable constrains nothing here: dropped, its
         * multiplier stays where it was (see polish) */
        for (int k = 0; k < nrows; k++) {
            const double *Ai = A + (size_t)rows[k] * n;
            int live = 0;
            for (int f = 0; f < nF && !live; f++) live = Ai[F[f]] != 0.0;
            if (live) rl[nr++] = k; /* position in rows */
        }
        int N = nF + nr;
        if ((size_t)N * N > kcap) {
            free(K); free(Kc); free(rhs); free(start); free(sol);
            kcap = (size_t)N * N;
            K = malloc(sizeof(double) * (kcap + 1)); Kc = malloc(sizeof(double) * (kcap + 1));
            rhs = malloc(sizeof(double) * (N + 1)); start = malloc(sizeof(double) * (N + 1)); sol = malloc(sizeof(double) * (N + 1));
            if (!K || !Kc || !rhs || !start || !sol) { status = 2; goto done; }
        }
        memset(K, 0, sizeof(double) * (size_t)N * N);
        for (int f = 0; f < nF; f++) K[(size_t)f * N + f] = hd[F[f]];
        for (int k = 0; k < nr; k++) {
            const double *Ai = A + (size_t)rows[rl[k]] * n;
            for (int f = 0; f < nF; f++) {
                K[(size_t)f * N + nF + k] = -Ai[F[f]];
                K[(size_t)(nF + k) * N + f] = Ai[F[f]];
            }
        }
        for (int f = 0; f < nF; f++) { rhs[f] = -c[F[f]]; start[f] = x0[F[f]]; }
        for (int k = 0; k < nr; k++) {
            int i = rows[rl[k]];
            const double *Ai = A + (size_t)i * n;
            double s = 0.0;
            for (int j = 0; j < n; j++) if (at_lo[j] || at_up[j]) s += Ai[j] * xf[j];
            rhs[nF + k] = b[rl[k]] - s;
            start[nF + k] = y0[i];
        }
        /* step solves K step = rhs - K start; accepted as LAPACK's would be
         * (finite, residual <= 1e-10 (1 + |r|), |step| < 1e6), else the
         * Python polish takes over with its least-squares step */
        for (int i = 0; i < N; i++) {
            double s = 0.0;
            for (int j = 0; j < N; j++) s += K[(size_t)i * N + j] * start[j];
            sol[i] = rhs[i] - s;
        }
        memcpy(rhs, sol, sizeof(double) * N);  /* rhs now holds r */
        memcpy(Kc, K, sizeof(double) * (size_t)N * N);
        if (lu_solve(N, Kc, sol) != 0) { status = 2; goto done; }
        double rmax = amax(N, rhs), res = 0.0;
        for (int i = 0; i < N; i++) {
            if (!isfinite(sol[i])) { status = 2; goto done; }
            double s = -rhs[i];
            for (int j = 0; j < N; j++) s += K[(size_t)i * N + j] * sol[j];
            if (fabs(s) > res) res = fabs(s);
        }
        if (!(res <= 1e-10 * (1.0 + rmax)) || !(amax(N, sol) < 1e6)) { status = 2; goto done; }
        for (int f = 0; f < nF; f++) xf[F[f]] = start[f] + sol[f];
        for (int i = 0; i < m; i++) y[i] = (eq[i] || act_lo[i] || act_up[i]) ? y0[i] : 0.0;
        for (int k = 0; k < nr; k++) y[rows[rl[k]]] = start[nF + k] + sol[nF + k];
        /* reduced costs of the minimisation form: >= 0 at a lower bound */
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int i = 0; i < m; i++) s += A[(size_t)i * n + j] * y[i];
            red[j] = sense * ((c[j] + hd[j] * xf[j]) - s);
        }
        for (int i = 0; i < m; i++) {
            double s = 0.0;
            for (int j = 0; j < n; j++) s += A[(size_t)i * n + j] * xf[j];
            ax[i] = s;
        }
        /* what is wrong with each column and row, classified once (polish's
         * masks below, above, wrong, push_lo, push_up, row_lo, row_up,
         * row_wrong) */
        int unmet = 0, any_bound = 0, any_row = 0, any_move = 0, any_roww = 0;
        for (int j = 0; j < n; j++) {
            int fixed = at_lo[j] || at_up[j];
            int pos = red[j] > tol, neg = red[j] < -tol;
            int push_lo = !fixed && pos && isfinite(lo[j]), push_up = !fixed && neg && isfinite(up[j]);
            cf[j] = (xf[j] < lo[j] - tol * scale[j] ? BELOW : 0) | (xf[j] > up[j] + tol * scale[j] ? ABOVE : 0)
                  | (((at_lo[j] && neg) || (at_up[j] && pos)) ? WRONG : 0) | (push_lo ? PUSH_LO : 0) | (push_up ? PUSH_UP : 0);
            if (!fixed && (pos || neg) && !(push_lo || push_up)) unmet = 1;
            if (cf[j] & (BELOW | ABOVE)) any_bound = 1;
            if (cf[j] & (WRONG | PUSH_LO | PUSH_UP)) any_move = 1;
        }
        for (int i = 0; i < m; i++) {
            int active = eq[i] || act_lo[i] || act_up[i];
            double ymin = sense * y[i], rs = fmax(1.0, fabs(ax[i]));
            rf[i] = (!active && ilo[i] && ax[i] < rlo[i] - tol * rs ? ROW_LO : 0) | (!active && iup[i] && ax[i] > rup[i] + tol * rs ? ROW_UP : 0)
                  | (((act_lo[i] && ymin < -tol) || (act_up[i] && ymin > tol)) ? ROW_WRONG : 0);
            if (rf[i] & ROW_WRONG) any_roww = 1;
            if (rf[i] & (ROW_LO | ROW_UP)) any_row = 1;
        }
        if (strict) {
            if (unmet) { status = 1; goto done; }
            for (int k = 0; k < nrows; k++)
                if (fabs(ax[rows[k]] - b[k]) > tol * fmax(1.0, fabs(b[k]))) { status = 1; goto done; }
        }
        if (!(any_bound || any_row || any_move || any_roww)) {
            memcpy(x_out, xf, sizeof(double) * nn);
            memcpy(y_out, y, sizeof(double) * mm);
            status = 0;
            goto done;
        }
        /* one change of the active set, the worst first (first index on ties,
         * as numpy's argmax): a bound or row the point violates, else a
         * sign that is wrong */
        double jv_best = -INFINITY, jr_best = -INFINITY;
        int jv_at = -1, jr_at = -1;
        int bounds = any_bound || any_row;
        for (int j = 0; j < n; j++) {
            if (!(cf[j] & (bounds ? (BELOW | ABOVE) : (WRONG | PUSH_LO | PUSH_UP)))) continue;
            double v = bounds ? fmax(lo[j] - xf[j], xf[j] - up[j]) / scale[j] : fabs(red[j]);
            if (jv_at < 0 || v > jv_best) { jv_best = v; jv_at = j; }
        }
        for (int i = 0; i < m; i++) {
            if (!(rf[i] & (bounds ? (ROW_LO | ROW_UP) : ROW_WRONG))) continue;
            double v = bounds ? fmax(rlo[i] - ax[i], ax[i] - rup[i]) / fmax(1.0, fabs(ax[i])) : fabs(sense * y[i]);
            if (jr_at < 0 || v > jr_best) { jr_best = v; jr_at = i; }
        }
        if (jv_at >= 0 && jv_best >= jr_best) {
            int j = jv_at, f = cf[j];
            if (bounds) { at_lo[j] = (f & BELOW) != 0; at_up[j] = (f & ABOVE) && !(f & BELOW); }
            else if (f & WRONG) { at_lo[j] = 0; at_up[j] = 0; }
            else { at_lo[j] = (f & PUSH_LO) != 0; at_up[j] = (f & PUSH_UP) && !(f & PUSH_LO); }
        } else if (bounds) {
            act_lo[jr_at] = (rf[jr_at] & ROW_LO) != 0;
            act_up[jr_at] = (rf[jr_at] & ROW_UP) != 0;
        } else {
            act_lo[jr_at] = 0; act_up[jr_at] = 0;
        }
        for (int j = 0; j < n; j++) x0[j] = fmin(fmax(xf[j], lo[j]), up[j]);
        memcpy(y0, y, sizeof(double) * mm);
    }
    status = 1;
done:
    free(x0); free(y0); free(scale); free(xf); free(red); free(ax); free(b); free(y);
    free(F); free(rl); free(rows); free(eq); free(ilo); free(iup); free(cf); free(rf);
    free(K); free(Kc); free(rhs); free(start); free(sol);
    return status;
}

/* One buffer in, one out, one of flags: three addresses for ctypes to
 * pass.  in = A (m x n), c, lo, up (n), rlo, rup (m), hd (n), x (n), y (m);
 * flags = at_lo, at_up (n), act_lo, act_up (m); out = x (n), y (m). */
int mineq_polish(int m, int n, const double *in, double sense, double tol, int rounds, int strict, int given, unsigned char *flags, double *out) {
    size_t mn = (size_t)m * n;
    const double *A = in, *c = A + mn, *lo = c + n, *up = lo + n, *rlo = up + n, *rup = rlo + m, *hd = rup + m, *x = hd + n, *y = x + n;
    return polish(m, n, A, c, lo, up, rlo, rup, hd, sense, x, y, tol, rounds, strict, given, flags, flags + n, flags + 2 * n, flags + 2 * n + m, out, out + n);
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_polish", "The compiled active-set step (see _polish.c); used through ctypes.", -1, NULL};

PyMODINIT_FUNC PyInit__polish(void) { return PyModule_Create(&module); }
