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
 * Python-visible module is empty.  The constraint matrix comes by its
 * nonzeros, column by column (models/sparse.py's Matrix: int64 starts
 * and row indices, rows ascending in a column); other arrays are float64
 * (uint8 for flags).  Returns 0 (a KKT point: x, y and the
 * active set written), 1 (no consistent active set: polish returns None)
 * or 2 (a KKT matrix LU cannot solve accurately: the caller runs the
 * Python polish, whose least-squares step handles it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ABI 2

/* the classification of a column (cf) and a row (rf) in one round */
enum { BELOW = 1, ABOVE = 2, WRONG = 4, PUSH_LO = 8, PUSH_UP = 16 };
enum { ROW_LO = 1, ROW_UP = 2, ROW_WRONG = 4 };

int mineq_polish_abi(void) { return ABI; }

/* Steps solved by the eliminated system (kkt_step) since the library was
 * loaded: how tests and benchmarks see that it, and not the whole LU it
 * falls back to, solved them.  Calls on several threads at once may lose
 * counts; it is a diagnostic, nothing decides by it. */
static long reduced_steps = 0;
long mineq_polish_reduced_steps(void) { return reduced_steps; }

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

/* KKT systems at least this large (free columns plus active rows) are
 * solved with the curved columns eliminated first, as active_set.py's
 * _kkt_step does (REDUCE_MIN there): with P the free columns whose
 * Hessian entry is not zero and Z the others, the system
 * [[D, -B'], [B, 0]] (s, v) = (r_F, r_B) becomes
 * [[0, -B_Z'], [B_Z, B_P D_P^-1 B_P']] (s_Z, v) = (r_Z, r_B - B_P D_P^-1 r_P)
 * and s_P = D_P^-1 (r_P + B_P' v): an LU of side |Z| + rows instead of
 * |P| + |Z| + rows (on the bundled light rare earths, a fraction of
 * the work).  Where that system is singular or its step not accurate,
 * the whole LU runs, as below this size. */
#define REDUCE_MIN 150

/* A grown buffer of at least `need` doubles (its old contents are not kept). */
static int grow(double **p, size_t *cap, size_t need) {
    if (need <= *cap && *p) return 0;
    free(*p);
    *cap = need;
    *p = malloc(sizeof(double) * (need + 1));
    return *p ? 0 : -1;
}

/* B, the live rows on the free columns, by its nonzeros column by
 * column: column f's are bk[bs[f]..bs[f+1]) (row positions, ascending)
 * with values bv.  A flow's column has two, a curve block's one, so the
 * products below cost B's nonzeros, not nF x nr (held dense, they were
 * most of a linked market's polish). */
typedef struct { const int *bs, *bk; const double *bv; } Cols;

/* Whether s solves K s = r for K = [[diag(d), -B'], [B, 0]] as LAPACK's
 * step is accepted in active_set.py (_accurate): finite, residual
 * <= 1e-10 (1 + |r|), |s| < 1e6.  `acc` holds nr doubles. */
static int accurate(int nF, int nr, const double *d, Cols B, const double *r, const double *s, double *acc) {
    int N = nF + nr;
    double res = 0.0;
    for (int i = 0; i < N; i++) if (!isfinite(s[i])) return 0;
    for (int k = 0; k < nr; k++) acc[k] = -r[nF + k];
    for (int f = 0; f < nF; f++) {
        double t = d[f] * s[f] - r[f];
        for (int e = B.bs[f]; e < B.bs[f + 1]; e++) {
            t -= B.bv[e] * s[nF + B.bk[e]];
            acc[B.bk[e]] += B.bv[e] * s[f];
        }
        if (fabs(t) > res) res = fabs(t);
    }
    for (int k = 0; k < nr; k++) if (fabs(acc[k]) > res) res = fabs(acc[k]);
    return res <= 1e-10 * (1.0 + amax(N, r)) && amax(N, s) < 1e6;
}

/* The step s of K s = r for the saddle-point matrix K = [[diag(d), -B'],
 * [B, 0]] of one round, B's nr rows on the nF free columns given by
 * their nonzeros (Cols): 0 when s is accurate, 1 when K is singular or
 * no step is accurate (the Python step takes over), -1 when memory ran
 * out.  `w` and `W` are buffers this grows; `acc` holds nr doubles. */
static int kkt_step(int nF, int nr, const double *d, Cols B, const double *r, double *s,
                    double **w, size_t *wcap, double **W, size_t *Wcap, double *acc) {
    int N = nF + nr;
    if (N >= REDUCE_MIN) {
        int nz = 0;
        for (int f = 0; f < nF; f++) nz += d[f] == 0.0;
        int M = nz + nr;
        if (grow(W, Wcap, (size_t)M * M) || grow(w, wcap, (size_t)M)) return -1;
        double *R = *W, *rr = *w;
        memset(R, 0, sizeof(double) * (size_t)M * M);
        for (int k = 0; k < nr; k++) rr[nz + k] = r[nF + k];
        for (int f = 0, a = 0; f < nF; f++) {
            int e0 = B.bs[f], e1 = B.bs[f + 1];
            if (d[f] == 0.0) {
                rr[a] = r[f];
                for (int e = e0; e < e1; e++) {
                    int k = B.bk[e];
                    R[(size_t)a * M + nz + k] = -B.bv[e];
                    R[(size_t)(nz + k) * M + a] = B.bv[e];
                }
                a++;
                continue;
            }
            /* B_P D_P^-1 B_P' and B_P D_P^-1 r_P, a column at a time over
             * its nonzeros */
            double inv = 1.0 / d[f], rp = inv * r[f];
            for (int e = e0; e < e1; e++) {
                int k = B.bk[e];
                rr[nz + k] -= B.bv[e] * rp;
                double bk = inv * B.bv[e], *Rk = R + (size_t)(nz + k) * M + nz;
                for (int g = e0; g < e1; g++) Rk[B.bk[g]] += bk * B.bv[g];
            }
        }
        if (lu_solve(M, R, rr) == 0) {
            for (int k = 0; k < nr; k++) s[nF + k] = rr[nz + k];
            for (int f = 0, a = 0; f < nF; f++) {
                if (d[f] == 0.0) { s[f] = rr[a++]; continue; }
                double t = r[f];
                for (int e = B.bs[f]; e < B.bs[f + 1]; e++) t += B.bv[e] * s[nF + B.bk[e]];
                s[f] = t / d[f];
            }
            if (accurate(nF, nr, d, B, r, s, acc)) { reduced_steps++; return 0; }
        }
    }
    /* the whole system by one LU */
    if (grow(W, Wcap, (size_t)N * N)) return -1;
    double *K = *W;
    memset(K, 0, sizeof(double) * (size_t)N * N);
    for (int f = 0; f < nF; f++) {
        K[(size_t)f * N + f] = d[f];
        for (int e = B.bs[f]; e < B.bs[f + 1]; e++) {
            int k = B.bk[e];
            K[(size_t)f * N + nF + k] = -B.bv[e];
            K[(size_t)(nF + k) * N + f] = B.bv[e];
        }
    }
    memcpy(s, r, sizeof(double) * N);
    if (lu_solve(N, K, s) != 0) return 1;
    return accurate(nF, nr, d, B, r, s, acc) ? 0 : 1;
}

static int polish(
    int m, int n, const long long *start_in, const long long *index_in, const double *value_in, const double *c, const double *lo, const double *up,
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
    /* A's nonzeros by row (rs, ci, rv) and by column (cs, ri, cv), in
     * index order: a program is mostly zeros (a flow has two entries), so
     * a round's products cost its nonzeros instead of m x n.  Given by
     * column; an entry that is zero is left out, as a dense matrix's */
    size_t nnz = 0;
    for (size_t e = 0; e < (size_t)start_in[n]; e++) nnz += value_in[e] != 0.0;
    int *rs = malloc(sizeof(int) * (mm + 1)), *ci = malloc(sizeof(int) * (nnz + 1)), *cs = malloc(sizeof(int) * (nn + 1)), *ri = malloc(sizeof(int) * (nnz + 1));
    double *rv = malloc(sizeof(double) * (nnz + 1)), *cv = malloc(sizeof(double) * (nnz + 1));
    int *Fof = malloc(sizeof(int) * (nn + 1));
    /* B's nonzeros (Cols) and each row's live position (-1: not live) */
    int *bs = malloc(sizeof(int) * (nn + 1)), *bk = malloc(sizeof(int) * (nnz + 1)), *kof = malloc(sizeof(int) * (mm + 1));
    double *bv = malloc(sizeof(double) * (nnz + 1)), *acc = malloc(sizeof(double) * (mm + 1));
    double *d = malloc(sizeof(double) * (nn + 1)), *rhs = NULL, *start = NULL, *sol = NULL, *w = NULL, *W = NULL;
    size_t vcap = 0, wcap = 0, Wcap = 0;
    if (!x0 || !y0 || !scale || !xf || !red || !ax || !b || !y || !F || !rl || !rows || !eq || !ilo || !iup || !cf || !rf
        || !rs || !ci || !cs || !ri || !rv || !cv || !Fof || !d || !bs || !bk || !kof || !bv || !acc) { status = 2; goto done; }
    {
        /* by column as given (rows ascending), then by row: each row's
         * columns ascending, the order a dense matrix's scan gives */
        int *fill = rl;  /* borrowed (m + 1 ints): the next free place of each row */
        for (int i = 0; i <= m; i++) fill[i] = 0;
        size_t e = 0;
        for (int j = 0; j < n; j++) {
            cs[j] = (int)e;
            for (long long p = start_in[j]; p < start_in[j + 1]; p++) {
                if (value_in[p] == 0.0) continue;
                ri[e] = (int)index_in[p]; cv[e] = value_in[p]; e++;
                fill[index_in[p] + 1]++;
            }
        }
        cs[n] = (int)e;
        for (int i = 0; i < m; i++) fill[i + 1] += fill[i];
        memcpy(rs, fill, sizeof(int) * (mm + 1));
        for (int j = 0; j < n; j++)
            for (int q = cs[j]; q < cs[j + 1]; q++) { int p = fill[ri[q]]++; ci[p] = j; rv[p] = cv[q]; }
    }
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
            for (int q = rs[i]; q < rs[i + 1]; q++) s += rv[q] * x0[ci[q]];
            double sc = fmax(1.0, fabs(s));
            act_lo[i] = ilo[i] && fabs(s - rlo[i]) <= tol * sc;
            act_up[i] = iup[i] && fabs(s - rup[i]) <= tol * sc && !act_lo[i];
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
            Fof[j] = -1;
            if (!(at_lo[j] || at_up[j])) { Fof[j] = nF; F[nF++] = j; }
        }
        /* a row with no free variable constrains nothing here: dropped, its
         * multiplier stays where it was (see polish) */
        for (int k = 0; k < nrows; k++) {
            int i = rows[k], live = 0;
            for (int q = rs[i]; q < rs[i + 1] && !live; q++) live = Fof[ci[q]] >= 0;
            if (live) rl[nr++] = k; /* position in rows */
        }
        int N = nF + nr;
        if (grow(&rhs, &vcap, 3 * (size_t)N)) { status = 2; goto done; }
        start = rhs + N; sol = rhs + 2 * (size_t)N;
        for (int i = 0; i < m; i++) kof[i] = -1;
        for (int k = 0; k < nr; k++) {
            int i = rows[rl[k]];
            double s = 0.0;
            kof[i] = k;
            for (int q = rs[i]; q < rs[i + 1]; q++)
                if (Fof[ci[q]] < 0) s += rv[q] * xf[ci[q]];
            rhs[nF + k] = b[rl[k]] - s;
            start[nF + k] = y0[i];
        }
        /* B: the live rows on the free columns, by its nonzeros (A's
         * columns hold their rows ascending, and so their live positions) */
        bs[0] = 0;
        for (int f = 0, e = 0; f < nF; f++) {
            int j = F[f];
            for (int q = cs[j]; q < cs[j + 1]; q++)
                if (kof[ri[q]] >= 0) { bk[e] = kof[ri[q]]; bv[e] = cv[q]; e++; }
            bs[f + 1] = e;
        }
        Cols B = {bs, bk, bv};
        for (int f = 0; f < nF; f++) { d[f] = hd[F[f]]; rhs[f] = -c[F[f]]; start[f] = x0[F[f]]; }
        /* the step solves K step = rhs - K start, K = [[D, -B'], [B, 0]];
         * accepted as LAPACK's would be, else the Python polish takes over
         * with its least-squares step */
        for (int k = 0; k < nr; k++) acc[k] = 0.0;
        for (int f = 0; f < nF; f++) {
            double s = d[f] * start[f];
            for (int e = bs[f]; e < bs[f + 1]; e++) {
                s -= bv[e] * start[nF + bk[e]];
                acc[bk[e]] += bv[e] * start[f];
            }
            sol[f] = rhs[f] - s;
        }
        for (int k = 0; k < nr; k++) sol[nF + k] = rhs[nF + k] - acc[k];
        memcpy(rhs, sol, sizeof(double) * N);  /* rhs now holds r */
        if (kkt_step(nF, nr, d, B, rhs, sol, &w, &wcap, &W, &Wcap, acc) != 0) { status = 2; goto done; }
        for (int f = 0; f < nF; f++) xf[F[f]] = start[f] + sol[f];
        for (int i = 0; i < m; i++) y[i] = (eq[i] || act_lo[i] || act_up[i]) ? y0[i] : 0.0;
        for (int k = 0; k < nr; k++) y[rows[rl[k]]] = start[nF + k] + sol[nF + k];
        /* reduced costs of the minimisation form: >= 0 at a lower bound */
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int q = cs[j]; q < cs[j + 1]; q++) s += cv[q] * y[ri[q]];
            red[j] = sense * ((c[j] + hd[j] * xf[j]) - s);
        }
        for (int i = 0; i < m; i++) {
            double s = 0.0;
            for (int q = rs[i]; q < rs[i + 1]; q++) s += rv[q] * xf[ci[q]];
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
    free(rs); free(ci); free(cs); free(ri); free(rv); free(cv); free(Fof); free(d);
    free(bs); free(bk); free(kof); free(bv); free(acc); free(rhs); free(w); free(W);
    return status;
}

/* The matrix by column (start: n + 1, index and value: start[n]), one
 * buffer in, one out, one of flags.  in = c, lo, up (n), rlo, rup (m),
 * hd (n), x (n), y (m); flags = at_lo, at_up (n), act_lo, act_up (m);
 * out = x (n), y (m). */
int mineq_polish(int m, int n, const long long *start, const long long *index, const double *value, const double *in,
                 double sense, double tol, int rounds, int strict, int given, unsigned char *flags, double *out) {
    const double *c = in, *lo = c + n, *up = lo + n, *rlo = up + n, *rup = rlo + m, *hd = rup + m, *x = hd + n, *y = x + n;
    return polish(m, n, start, index, value, c, lo, up, rlo, rup, hd, sense, x, y, tol, rounds, strict, given, flags, flags + n, flags + 2 * n, flags + 2 * n + m, out, out + n);
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_polish", "The compiled active-set step (see _polish.c); used through ctypes.", -1, NULL};

PyMODINIT_FUNC PyInit__polish(void) { return PyModule_Create(&module); }
