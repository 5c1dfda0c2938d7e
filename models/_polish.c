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
 * or 2 (a KKT system neither LU nor the degenerate step solves
 * accurately, or whose rank the degenerate step cannot tell as an SVD
 * would: the caller runs the Python polish, whose SVDs and
 * least-squares step handle it).  The one place where the steps are not
 * the same line for line is the degenerate step's null spaces: found
 * here by peeling B's singletons and a Jacobi SVD of what is left
 * (null_side), in Python by LAPACK's SVDs of B; both are the same
 * spaces wherever this one answers (but for singular values within ten
 * times numpy's rank threshold, zero here: JACOBI_SLACK), so the steps
 * agree to rounding.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ABI 4

/* the classification of a column (cf) and a row (rf) in one round */
enum { BELOW = 1, ABOVE = 2, WRONG = 4, PUSH_LO = 8, PUSH_UP = 16, RAY_LO = 32, RAY_UP = 64 };
enum { ROW_LO = 1, ROW_UP = 2, ROW_WRONG = 4 };

int mineq_polish_abi(void) { return ABI; }

/* Steps solved by the eliminated system (kkt_step) since the library was
 * loaded: how tests and benchmarks see that it, and not the whole LU it
 * falls back to, solved them.  Calls on several threads at once may lose
 * counts; it is a diagnostic, nothing decides by it. */
static long reduced_steps = 0;
long mineq_polish_reduced_steps(void) { return reduced_steps; }

/* Solve K s = r in place (r becomes s) by LU with partial pivoting, as
 * LAPACK's dgesv does; 0 on success, -1 on an exactly zero pivot, -2
 * when memory ran out.
 *
 * K is a KKT system held dense but mostly zeros (a flow's column has two
 * entries), and what an elimination costs is finding them: column k is
 * read down its rows, n doubles apart.  So one pass down column k both
 * picks the pivot and lists the rows below with an entry there, the
 * pivot row's nonzeros past k are listed once, and each listed row is
 * updated on those columns only; those lists, U's rows, serve the back
 * substitution too.  The arithmetic is the dense loop's, operation for
 * operation (a row with no entry in column k, or a column where the
 * pivot row is zero, is left as the dense loop would leave it: x - f * 0
 * is x), and so are the results, bit for bit (the 4,241 systems of an
 * every-scenario ensemble's first draws, replayed: 1.7 times as fast,
 * session 23). */
static int lu_solve(int n, double *K, double *r) {
    size_t nn = (size_t)n, ucap = 4 * nn + 16;
    /* U's nonzeros past the diagonal, row k's columns at ucol[ustart[k]..ustart[k + 1]) */
    int *below = malloc(sizeof(int) * (nn + 1)), *ustart = malloc(sizeof(int) * (nn + 1)), *ucol = malloc(sizeof(int) * ucap);
    int status = 0;
    if (!below || !ustart || !ucol) { status = -2; goto done; }
    ustart[0] = 0;
    for (int k = 0; k < n; k++) {
        int p = k, cnt = 0;
        double best = fabs(K[(size_t)k * n + k]);
        for (int i = k + 1; i < n; i++) {
            double v = K[(size_t)i * n + k];
            if (v != 0.0) {
                below[cnt++] = i;
                if (fabs(v) > best) { best = fabs(v); p = i; }
            }
        }
        if (best == 0.0) { status = -1; goto done; }
        if (p != k) {
            double *a = K + (size_t)k * n, *b = K + (size_t)p * n;
            for (int j = 0; j < n; j++) { double t = a[j]; a[j] = b[j]; b[j] = t; }
            double t = r[k]; r[k] = r[p]; r[p] = t;
            /* row p now holds the old row k: listed if it has an entry in column k */
            int w = 0;
            for (int q = 0; q < cnt; q++) {
                if (below[q] != p) below[w++] = below[q];
                else if (K[(size_t)p * n + k] != 0.0) below[w++] = p;
            }
            cnt = w;
        }
        double *rk = K + (size_t)k * n;
        double piv = rk[k];
        if ((size_t)ustart[k] + (nn - k) > ucap) {
            ucap = 2 * ucap + nn;
            int *grown = realloc(ucol, sizeof(int) * ucap);
            if (!grown) { status = -2; goto done; }
            ucol = grown;
        }
        int *cols = ucol + ustart[k], nc = 0;
        for (int j = k + 1; j < n; j++) if (rk[j] != 0.0) cols[nc++] = j;
        ustart[k + 1] = ustart[k] + nc;
        for (int q = 0; q < cnt; q++) {
            double *ri = K + (size_t)below[q] * n;
            double f = ri[k] / piv;
            if (f == 0.0) continue;
            ri[k] = f;
            for (int c = 0; c < nc; c++) ri[cols[c]] -= f * rk[cols[c]];
            r[below[q]] -= f * r[k];
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        const double *ri = K + (size_t)i * n;
        double s = r[i];
        for (int c = ustart[i]; c < ustart[i + 1]; c++) s -= ri[ucol[c]] * r[ucol[c]];
        if (s == 0.0) {
            /* the dense loop's zero may carry the other sign (-0 less a
             * zero product of sign -0 is +0): its own loop says which */
            s = r[i];
            for (int j = i + 1; j < n; j++) s -= ri[j] * r[j];
        }
        r[i] = s / ri[i];
    }
done:
    free(below); free(ustart); free(ucol);
    return status;
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
 * the degenerate step and then the whole LU run, as in _kkt_step. */
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

/* An orthonormal basis of a null space of K (see degenerate_step), or
 * none: k columns of length len, column-major. */
typedef struct { int k, len; double *v; } Basis;

/* Whether s solves K s = r for K = [[diag(d), -B'], [B, 0]]: finite,
 * residual <= 1e-10 (1 + |r|), and with `bounded` |s| < 1e6, as a step
 * is accepted in active_set.py (_accurate; the degenerate step's own
 * check has no bound).  `acc` holds nr doubles. */
static int accurate(int nF, int nr, const double *d, Cols B, const double *r, const double *s, double *acc, int bounded) {
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
    return res <= 1e-10 * (1.0 + amax(N, r)) && (!bounded || amax(N, s) < 1e6);
}

/* The reduced system above, (K + NN') s = r with the curved columns
 * eliminated, N being nu (on the free columns, zero where d is not) and
 * nv (on the rows) as in active_set.py's _eliminated_solve; 0 when its
 * LU succeeds (s written; the caller judges the accuracy), 1 when it
 * is singular, -1 when memory ran out. */
static int reduced_solve(int nF, int nr, const double *d, Cols B, const double *r, double *s, Basis nu, Basis nv,
                         double **w, size_t *wcap, double **W, size_t *Wcap) {
    int nz = 0;
    for (int f = 0; f < nF; f++) nz += d[f] == 0.0;
    int M = nz + nr;
    if (grow(W, Wcap, (size_t)M * M) || grow(w, wcap, (size_t)M + nF)) return -1;
    double *R = *W, *rr = *w;
    int *zat = (int *)(rr + M);  /* the Z position of each free column (nF ints fit in nF doubles) */
    memset(R, 0, sizeof(double) * (size_t)M * M);
    for (int k = 0; k < nr; k++) rr[nz + k] = r[nF + k];
    for (int f = 0, a = 0; f < nF; f++) {
        int e0 = B.bs[f], e1 = B.bs[f + 1];
        zat[f] = -1;
        if (d[f] == 0.0) {
            zat[f] = a;
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
    /* N N' on its two blocks: a null vector of B's curved-free columns
     * lives on Z alone */
    for (int c = 0; c < nu.k; c++) {
        const double *u = nu.v + (size_t)c * nF;
        for (int f = 0; f < nF; f++) {
            if (u[f] == 0.0 || zat[f] < 0) continue;
            for (int g = 0; g < nF; g++) if (zat[g] >= 0) R[(size_t)zat[f] * M + zat[g]] += u[f] * u[g];
        }
    }
    for (int c = 0; c < nv.k; c++) {
        const double *v = nv.v + (size_t)c * nr;
        for (int k = 0; k < nr; k++) {
            if (v[k] == 0.0) continue;
            for (int l = 0; l < nr; l++) R[(size_t)(nz + k) * M + nz + l] += v[k] * v[l];
        }
    }
    int lu = lu_solve(M, R, rr);
    if (lu == -2) return -1;
    if (lu != 0) return 1;
    for (int k = 0; k < nr; k++) s[nF + k] = rr[nz + k];
    for (int f = 0, a = 0; f < nF; f++) {
        if (d[f] == 0.0) { s[f] = rr[a++]; continue; }
        double t = r[f];
        for (int e = B.bs[f]; e < B.bs[f + 1]; e++) t += B.bv[e] * s[nF + B.bk[e]];
        s[f] = t / d[f];
    }
    return 0;
}

/* (K + NN') s = r by one LU of the whole system; 0, 1 or -1 as above. */
static int whole_solve(int nF, int nr, const double *d, Cols B, const double *r, double *s, Basis nu, Basis nv, double **W, size_t *Wcap) {
    int N = nF + nr;
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
    for (int c = 0; c < nu.k; c++) {
        const double *u = nu.v + (size_t)c * nF;
        for (int f = 0; f < nF; f++) if (u[f] != 0.0) for (int g = 0; g < nF; g++) K[(size_t)f * N + g] += u[f] * u[g];
    }
    for (int c = 0; c < nv.k; c++) {
        const double *v = nv.v + (size_t)c * nr;
        for (int k = 0; k < nr; k++) if (v[k] != 0.0) for (int l = 0; l < nr; l++) K[(size_t)(nF + k) * N + nF + l] += v[k] * v[l];
    }
    memcpy(s, r, sizeof(double) * N);
    int lu = lu_solve(N, K, s);
    return lu == -2 ? -1 : lu != 0;
}

/* One-sided Jacobi (Hestenes) on the m x n matrix M (column-major),
 * which becomes M V with V (n x n, column-major) orthogonal: sv[j] is
 * the norm of M V's column j, a singular value (n - m of them zero when
 * m < n), and V's column j its right singular vector.  0 on
 * convergence, 1 after JACOBI_SWEEPS sweeps without it. */
#define JACOBI_SWEEPS 60
static int jacobi(int m, int n, double *M, double *V, double *sv) {
    for (size_t i = 0; i < (size_t)n * n; i++) V[i] = 0.0;
    for (int j = 0; j < n; j++) V[(size_t)j * n + j] = 1.0;
    /* a column whose norm is below m eps |M| is zero to working accuracy:
     * rotating it against another would only churn rounding, sweep
     * after sweep (the columns beyond m, when m < n, end there, and so
     * does one of two equal columns); a pair counts as orthogonal at a
     * cosine of m eps, the rounding of a dot product of length m (at
     * eps, two equal dependent rows of a linked group never settled) */
    double tiny = 0.0, tol = sqrt((double)(m > 1 ? m : 1)) * DBL_EPSILON;
    for (size_t i = 0; i < (size_t)m * n; i++) tiny += M[i] * M[i];
    tiny *= (double)m * m * DBL_EPSILON * DBL_EPSILON;
    for (int sweep = 0; sweep < JACOBI_SWEEPS; sweep++) {
        int rotated = 0;
        for (int p = 0; p + 1 < n; p++) {
            for (int q = p + 1; q < n; q++) {
                double *a = M + (size_t)p * m, *b = M + (size_t)q * m;
                double al = 0.0, be = 0.0, ga = 0.0;
                for (int i = 0; i < m; i++) { al += a[i] * a[i]; be += b[i] * b[i]; ga += a[i] * b[i]; }
                if (ga == 0.0 || al <= tiny || be <= tiny || fabs(ga) <= tol * sqrt(al) * sqrt(be)) continue;
                rotated = 1;
                double zeta = (be - al) / (2.0 * ga);
                double t = fabs(zeta) > 1e150 ? 0.5 / zeta : (zeta >= 0.0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1.0 + zeta * zeta));
                double c = 1.0 / sqrt(1.0 + t * t), s = c * t;
                for (int i = 0; i < m; i++) { double x = a[i], y = b[i]; a[i] = c * x - s * y; b[i] = s * x + c * y; }
                double *va = V + (size_t)p * n, *vb = V + (size_t)q * n;
                for (int i = 0; i < n; i++) { double x = va[i], y = vb[i]; va[i] = c * x - s * y; vb[i] = s * x + c * y; }
            }
        }
        if (!rotated) {
            for (int j = 0; j < n; j++) {
                double t = 0.0;
                for (int i = 0; i < m; i++) t += M[(size_t)j * m + i] * M[(size_t)j * m + i];
                sv[j] = sqrt(t);
            }
            return 0;
        }
    }
    return 1;
}

/* A lower bound on the largest singular value of B (`left`) or of B_Z,
 * its columns where d is zero: |B v| for a unit v after power steps on
 * B'B from all ones (30 of them; each costs B's nonzeros).  A column
 * norm alone can be far below it (many parallel flows), and the zero
 * threshold below would then be too, leaving rounding in the gap.
 * `u` holds nr doubles, `v` nF. */
static double sigma_below(int left, int nF, int nr, const double *d, Cols B, double *u, double *v) {
    double best = 0.0, norm = 0.0;
    for (int f = 0; f < nF; f++) { v[f] = (left || d[f] == 0.0) ? 1.0 : 0.0; norm += v[f]; }
    if (norm == 0.0) return 0.0;
    norm = sqrt(norm);
    for (int f = 0; f < nF; f++) v[f] /= norm;
    for (int it = 0; it < 30; it++) {
        for (int k = 0; k < nr; k++) u[k] = 0.0;
        for (int f = 0; f < nF; f++) if (v[f] != 0.0) for (int e = B.bs[f]; e < B.bs[f + 1]; e++) u[B.bk[e]] += B.bv[e] * v[f];
        double nu = 0.0;
        for (int k = 0; k < nr; k++) nu += u[k] * u[k];
        nu = sqrt(nu);
        if (nu > best) best = nu;
        if (nu == 0.0) break;
        double nv = 0.0;
        for (int f = 0; f < nF; f++) {
            double t = 0.0;
            if (left || d[f] == 0.0) for (int e = B.bs[f]; e < B.bs[f + 1]; e++) t += B.bv[e] * u[B.bk[e]];
            v[f] = t;
            nv += t * t;
        }
        if (nv == 0.0) break;
        nv = sqrt(nv);
        for (int f = 0; f < nF; f++) v[f] /= nv;
    }
    return best;
}

/* Cores larger than this (vectors whose null space is sought) are left
 * to the Python step's SVD: Jacobi's sweeps cost the cube of it.  The
 * bundled case's have at most 12 (measured over two draws of every
 * scenario: 599 degenerate systems). */
#define CORE_MAX 64
/* a singleton entry at least this fraction of B's largest pins its
 * vector's entry to zero (peeling; a smaller one stays in the core) */
#define PEEL_MIN 1e-4
/* singular values of a core between the zero threshold and this
 * fraction of B's Frobenius norm are neither clearly zero nor clearly
 * not: the Python step, whose SVD of B decides, takes over */
#define RANK_GAP 1e-9

/* Jacobi's rounding is larger than LAPACK's: a structurally null vector
 * of a core of 50 flows came out with |M v| of 40 eps sigma_max, past
 * numpy's max(shape) eps sigma_max on a core of 30 rows; zero is taken
 * up to this many times that threshold (still 1e-12 of sigma_max or
 * less on a market's cores, where a real singular value is some 1e-3 of
 * it or more, and the gap above stays with Python) */
#define JACOBI_SLACK 10.0

enum { DEG_OK = 0, DEG_NONE = 1, DEG_UNSURE = 2, DEG_MEMORY = -1 };

/* The orthonormal null space of one side of B: with `left`, the vectors
 * v over B's rows with B'v = 0 (dependent active rows); else the
 * vectors u over the columns where d is zero with B_Z u = 0 (flows B
 * does not pin down).  active_set.py's _degenerate_step finds them by
 * SVDs of B and B_Z; here B's sparsity does most of the work first.
 * Peeling: a column with one nonzero left (on the left side; a row,
 * on the other) forces that entry of every null vector to zero, which
 * takes out its row (column) and may leave other singletons: for a
 * market's incidence-like B (a flow has two entries, a curve block
 * one) what is left, the core, is a few rows where several balances
 * share activities or flows form a cycle.  The null vectors of B are
 * exactly those of the core, padded with zeros (every column that
 * peeled a row has no other entry in a surviving row, so B'v = C'v
 * for the padded v), and the core's are found by Jacobi's SVD.
 * Zero singular values are those at most max(shape) eps ref, ref the
 * largest of the largest column norm, a power-iteration estimate of
 * sigma_max (sigma_below) and the core's largest singular value (all
 * at most B's sigma_max: numpy's matrix_rank threshold or below), times
 * JACOBI_SLACK; those below RANK_GAP of the Frobenius norm but above
 * that make it DEG_UNSURE.  Writes *out (malloc'd, or NULL when k = 0). */
static int null_side(int left, int nF, int nr, const double *d, Cols B, const int *rs, const int *rf, const double *rv, Basis *out) {
    int len = left ? nr : nF;
    out->k = 0; out->len = len; out->v = NULL;
    /* the side's vectors are indexed by `vec` (rows, or Z columns) and
     * its equations by `eqn` (columns, or rows) */
    int nvec = len, neq = left ? nF : nr;
    int *cnt = malloc(sizeof(int) * ((size_t)neq + 1)), *alive = malloc(sizeof(int) * ((size_t)nvec + 1));
    int *stack = malloc(sizeof(int) * (2 * (size_t)neq + 1)), *vpos = malloc(sizeof(int) * ((size_t)nvec + 1)), *epos = malloc(sizeof(int) * ((size_t)neq + 1));
    double *M = NULL, *V = NULL, *sv = NULL;
    int status = DEG_MEMORY;
    if (!cnt || !alive || !stack || !vpos || !epos) goto done;
    double big = 0.0, ref = 0.0, fro = 0.0;
    for (int f = 0; f < nF; f++) {
        if (!left && d[f] != 0.0) continue;
        double cn = 0.0;
        for (int e = B.bs[f]; e < B.bs[f + 1]; e++) { cn += B.bv[e] * B.bv[e]; if (fabs(B.bv[e]) > big) big = fabs(B.bv[e]); }
        fro += cn;
        if (sqrt(cn) > ref) ref = sqrt(cn);
    }
    fro = sqrt(fro);
    {
        double *u = malloc(sizeof(double) * ((size_t)nr + 1)), *v = malloc(sizeof(double) * ((size_t)nF + 1));
        if (!u || !v) { free(u); free(v); goto done; }
        double below = sigma_below(left, nF, nr, d, B, u, v);
        free(u); free(v);
        if (below > ref) ref = below;
    }
    int nzc = 0;
    for (int f = 0; f < nF; f++) nzc += d[f] == 0.0;
    double zero = (double)(left ? (nr > nF ? nr : nF) : (nr > nzc ? nr : nzc)) * DBL_EPSILON * ref, gap = RANK_GAP * fro;
    for (int i = 0; i < nvec; i++) alive[i] = left || d[i] == 0.0;
    /* equation counts: entries on live vectors */
    int top = 0;
    for (int q = 0; q < neq; q++) {
        cnt[q] = 0;
        if (left) cnt[q] = B.bs[q + 1] - B.bs[q];
        else for (int e = rs[q]; e < rs[q + 1]; e++) cnt[q] += d[rf[e]] == 0.0;
        if (cnt[q] == 1) stack[top++] = q;
    }
    while (top > 0) {
        int q = stack[--top];
        if (cnt[q] != 1) continue;
        /* the equation's one live vector, and its entry */
        int at = -1;
        double val = 0.0;
        if (left) { for (int e = B.bs[q]; e < B.bs[q + 1]; e++) if (alive[B.bk[e]]) { at = B.bk[e]; val = B.bv[e]; break; } }
        else { for (int e = rs[q]; e < rs[q + 1]; e++) if (alive[rf[e]]) { at = rf[e]; val = rv[e]; break; } }
        if (at < 0 || fabs(val) < PEEL_MIN * big) continue;
        alive[at] = 0;
        /* the vector's other equations lose an entry */
        if (left) { for (int e = rs[at]; e < rs[at + 1]; e++) if (--cnt[rf[e]] == 1) stack[top++] = rf[e]; }
        else { for (int e = B.bs[at]; e < B.bs[at + 1]; e++) if (--cnt[B.bk[e]] == 1) stack[top++] = B.bk[e]; }
    }
    int mv = 0, me = 0;
    for (int i = 0; i < nvec; i++) vpos[i] = alive[i] ? mv++ : -1;
    for (int q = 0; q < neq; q++) epos[q] = cnt[q] > 0 ? me++ : -1;
    if (mv == 0) { status = DEG_OK; goto done; }
    if (mv > CORE_MAX) { status = DEG_UNSURE; goto done; }
    /* the core, a column per vector (length me), and its SVD */
    M = calloc((size_t)mv * me + 1, sizeof(double));
    V = malloc(sizeof(double) * ((size_t)mv * mv + 1));
    sv = malloc(sizeof(double) * ((size_t)mv + 1));
    if (!M || !V || !sv) goto done;
    if (left) {
        for (int f = 0; f < nF; f++) if (epos[f] >= 0) for (int e = B.bs[f]; e < B.bs[f + 1]; e++) if (vpos[B.bk[e]] >= 0) M[(size_t)vpos[B.bk[e]] * me + epos[f]] = B.bv[e];
    } else {
        for (int f = 0; f < nF; f++) if (vpos[f] >= 0) for (int e = B.bs[f]; e < B.bs[f + 1]; e++) if (epos[B.bk[e]] >= 0) M[(size_t)vpos[f] * me + epos[B.bk[e]]] = B.bv[e];
    }
    if (jacobi(me, mv, M, V, sv) != 0) { status = DEG_UNSURE; goto done; }
    /* the core's largest singular value bounds B's from below too: many
     * parallel flows make a core column norm far below sigma_max, and
     * Jacobi leaves the null columns rounding of eps sigma_max each */
    double smax = 0.0;
    for (int j = 0; j < mv; j++) if (sv[j] > smax) smax = sv[j];
    if (smax > ref) zero *= smax / ref;
    zero *= JACOBI_SLACK;
    int k = 0;
    for (int j = 0; j < mv; j++) {
        if (sv[j] <= zero) k++;
        else if (sv[j] < gap) { status = DEG_UNSURE; goto done; }
    }
    if (k) {
        out->v = calloc((size_t)k * len + 1, sizeof(double));
        if (!out->v) goto done;
        for (int j = 0, c = 0; j < mv; j++) {
            if (sv[j] > zero) continue;
            for (int i = 0; i < nvec; i++) if (vpos[i] >= 0) out->v[(size_t)c * len + i] = V[(size_t)j * mv + vpos[i]];
            c++;
        }
        out->k = k;
    }
    status = DEG_OK;
done:
    free(cnt); free(alive); free(stack); free(vpos); free(epos); free(M); free(V); free(sv);
    return status;
}

/* Steps solved by the degenerate step since the library was loaded (as
 * reduced_steps). */
static long degenerate_steps = 0;
long mineq_polish_degenerate_steps(void) { return degenerate_steps; }

/* The minimum-norm least-squares step of a singular K = [[diag(d), -B'],
 * [B, 0]] (d of one sign), as active_set.py's _degenerate_step: K's null
 * space is B_Z's null space on the columns beside B's left null space
 * on the rows (see there), N an orthonormal basis of it, and the step
 * is (K + NN')^-1 (r - NN'r), solved reduced on systems of REDUCE_MIN
 * and more, else (or where that is not accurate) whole.  DEG_OK (s
 * written), DEG_NONE (not that form, no null space found, or no
 * accurate step: Python's _degenerate_step gives None there too),
 * DEG_UNSURE (a rank this cannot tell as Python's SVD would) or
 * DEG_MEMORY. */
static int degenerate_step(int nF, int nr, const double *d, Cols B, const double *r, double *s,
                           double **w, size_t *wcap, double **W, size_t *Wcap, double *acc) {
    int pos = 0, neg = 0;
    for (int f = 0; f < nF; f++) { pos |= d[f] > 0.0; neg |= d[f] < 0.0; }
    if (pos && neg) return DEG_NONE;
    int N = nF + nr, nnz = B.bs[nF], status = DEG_MEMORY;
    Basis nu = {0, nF, NULL}, nv = {0, nr, NULL};
    /* B by rows as well: row k's columns rf[rs[k]..rs[k+1]) */
    int *rs = malloc(sizeof(int) * ((size_t)nr + 2)), *rf = malloc(sizeof(int) * ((size_t)nnz + 1));
    double *rv = malloc(sizeof(double) * ((size_t)nnz + 1)), *rp = malloc(sizeof(double) * ((size_t)N + 1));
    if (!rs || !rf || !rv || !rp) goto done;
    for (int k = 0; k <= nr + 1; k++) rs[k] = 0;
    for (int e = 0; e < nnz; e++) rs[B.bk[e] + 2]++;
    for (int k = 0; k < nr; k++) rs[k + 2] += rs[k + 1];
    for (int f = 0; f < nF; f++) for (int e = B.bs[f]; e < B.bs[f + 1]; e++) { int p = rs[B.bk[e] + 1]++; rf[p] = f; rv[p] = B.bv[e]; }
    if ((status = null_side(1, nF, nr, d, B, rs, rf, rv, &nv)) != DEG_OK) goto done;
    if ((status = null_side(0, nF, nr, d, B, rs, rf, rv, &nu)) != DEG_OK) goto done;
    status = DEG_NONE;
    if (nu.k == 0 && nv.k == 0) goto done;
    /* the projection r - NN'r, N's two parts on their own blocks */
    memcpy(rp, r, sizeof(double) * N);
    for (int c = 0; c < nu.k; c++) {
        const double *u = nu.v + (size_t)c * nF;
        double t = 0.0;
        for (int f = 0; f < nF; f++) t += u[f] * r[f];
        for (int f = 0; f < nF; f++) rp[f] -= t * u[f];
    }
    for (int c = 0; c < nv.k; c++) {
        const double *v = nv.v + (size_t)c * nr;
        double t = 0.0;
        for (int k = 0; k < nr; k++) t += v[k] * r[nF + k];
        for (int k = 0; k < nr; k++) rp[nF + k] -= t * v[k];
    }
    int got;
    if (N >= REDUCE_MIN) {
        got = reduced_solve(nF, nr, d, B, rp, s, nu, nv, w, wcap, W, Wcap);
        if (got < 0) { status = DEG_MEMORY; goto done; }
        if (got == 0 && accurate(nF, nr, d, B, rp, s, acc, 0)) { status = DEG_OK; goto done; }
    }
    got = whole_solve(nF, nr, d, B, rp, s, nu, nv, W, Wcap);
    if (got < 0) { status = DEG_MEMORY; goto done; }
    if (got == 0 && accurate(nF, nr, d, B, rp, s, acc, 0)) status = DEG_OK;
done:
    if (status == DEG_OK) degenerate_steps++;
    free(rs); free(rf); free(rv); free(rp); free(nu.v); free(nv.v);
    return status;
}

/* The step s of K s = r for the saddle-point matrix K = [[diag(d), -B'],
 * [B, 0]] of one round, B's nr rows on the nF free columns given by
 * their nonzeros (Cols), in active_set.py's _kkt_step's order: the
 * reduced system (REDUCE_MIN and more), the degenerate step there, the
 * whole LU, the degenerate step below REDUCE_MIN.  0 when s is
 * accurate, 1 when no step is (or the degenerate step cannot tell a
 * rank): the Python step takes over, -1 when memory ran out.  Without
 * `degenerate` (active_set.FAST_DEGENERATE_STEP off) a singular system
 * is left to Python's least squares.  `w` and
 * `W` are buffers this grows; `acc` holds nr doubles. */
static int kkt_step(int nF, int nr, const double *d, Cols B, const double *r, double *s, int degenerate,
                    double **w, size_t *wcap, double **W, size_t *Wcap, double *acc) {
    int N = nF + nr;
    Basis none = {0, 0, NULL};
    if (N >= REDUCE_MIN) {
        int got = reduced_solve(nF, nr, d, B, r, s, none, none, w, wcap, W, Wcap);
        if (got < 0) return -1;
        if (got == 0 && accurate(nF, nr, d, B, r, s, acc, 1)) { reduced_steps++; return 0; }
        /* singular, as a rule: the whole LU would fail as well */
        got = !degenerate ? DEG_NONE : degenerate_step(nF, nr, d, B, r, s, w, wcap, W, Wcap, acc);
        if (got == DEG_OK) return 0;
        if (got == DEG_MEMORY) return -1;
        if (got == DEG_UNSURE) return 1;
    }
    int got = whole_solve(nF, nr, d, B, r, s, none, none, W, Wcap);
    if (got < 0) return -1;
    if (got == 0 && accurate(nF, nr, d, B, r, s, acc, 1)) return 0;
    if (N < REDUCE_MIN && degenerate) {
        got = degenerate_step(nF, nr, d, B, r, s, w, wcap, W, Wcap, acc);
        if (got == DEG_OK) return 0;
        if (got == DEG_MEMORY) return -1;
    }
    return 1;
}

/* A matrix given by column (int64 starts, row indices ascending in a
 * column, values) by its nonzeros as int starts `cs` (n + 1), rows `ri`
 * and values `cv`: an entry that is zero is left out, as a dense
 * matrix's would be. */
static void by_column(int n, const long long *start, const long long *index, const double *value, int *cs, int *ri, double *cv) {
    int e = 0;
    for (int j = 0; j < n; j++) {
        cs[j] = e;
        for (long long p = start[j]; p < start[j + 1]; p++) {
            if (value[p] == 0.0) continue;
            ri[e] = (int)index[p]; cv[e] = value[p]; e++;
        }
    }
    cs[n] = e;
}

/* kkt_step on its own, for tests: B by its nonzeros as in Cols (int64
 * starts and row positions, as the polish entry takes the matrix), r
 * and s of length nF + nr.  0, 1 or -1 as kkt_step. */
int mineq_kkt_step(int nF, int nr, const long long *start, const long long *index, const double *value, const double *d, const double *r, double *s) {
    size_t nnz = (size_t)start[nF];
    int *bs = malloc(sizeof(int) * ((size_t)nF + 1)), *bk = malloc(sizeof(int) * (nnz + 1));
    double *bv = malloc(sizeof(double) * (nnz + 1)), *acc = malloc(sizeof(double) * ((size_t)nr + 1)), *w = NULL, *W = NULL;
    size_t wcap = 0, Wcap = 0;
    int status = -1;
    if (bs && bk && bv && acc) {
        by_column(nF, start, index, value, bs, bk, bv);
        Cols B = {bs, bk, bv};
        status = kkt_step(nF, nr, d, B, r, s, 1, &w, &wcap, &W, &Wcap, acc);
    }
    free(bs); free(bk); free(bv); free(acc); free(w); free(W);
    return status;
}

static int polish(
    int m, int n, const long long *start_in, const long long *index_in, const double *value_in, const double *c, const double *lo, const double *up,
    const double *rlo, const double *rup, const double *hd, double sense,
    const double *x_in, const double *y_in, double tol, int rounds, int strict, int given, int degenerate,
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
    int *Fof = malloc(sizeof(int) * (nn + 1)), *rayrow = malloc(sizeof(int) * (nn + 1));
    /* B's nonzeros (Cols) and each row's live position (-1: not live) */
    int *bs = malloc(sizeof(int) * (nn + 1)), *bk = malloc(sizeof(int) * (nnz + 1)), *kof = malloc(sizeof(int) * (mm + 1));
    double *bv = malloc(sizeof(double) * (nnz + 1)), *acc = malloc(sizeof(double) * (mm + 1));
    double *d = malloc(sizeof(double) * (nn + 1)), *rhs = NULL, *start = NULL, *sol = NULL, *w = NULL, *W = NULL;
    size_t vcap = 0, wcap = 0, Wcap = 0;
    if (!x0 || !y0 || !scale || !xf || !red || !ax || !b || !y || !F || !rl || !rows || !eq || !ilo || !iup || !cf || !rf
        || !rs || !ci || !cs || !ri || !rv || !cv || !Fof || !rayrow || !d || !bs || !bk || !kof || !bv || !acc) { status = 2; goto done; }
    {
        /* by column as given (rows ascending), then by row: each row's
         * columns ascending, the order a dense matrix's scan gives */
        int *fill = rl;  /* borrowed (m + 1 ints): the next free place of each row */
        for (int i = 0; i <= m; i++) fill[i] = 0;
        by_column(n, start_in, index_in, value_in, cs, ri, cv);
        for (int e = 0; e < cs[n]; e++) fill[ri[e] + 1]++;
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
        if (kkt_step(nF, nr, d, B, rhs, sol, degenerate, &w, &wcap, &W, &Wcap, acc) != 0) { status = 2; goto done; }
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
            if (!fixed && (pos || neg) && !(push_lo || push_up)) {
                /* no bound where it wants to go: alone on its ray when no
                 * active row holds it, until the first inactive row it
                 * is in reaches a side (polish_python's _rays) */
                int f = Fof[j], at = -1, side = 0;
                if (bs[f + 1] == bs[f]) {
                    double sgn = neg ? 1.0 : -1.0, best = INFINITY;
                    for (int q = cs[j]; q < cs[j + 1]; q++) {
                        int i = ri[q];
                        double a = sgn * cv[q], dist;
                        if (eq[i] || act_lo[i] || act_up[i]) continue;
                        if (a > 0 && iup[i]) dist = (rup[i] - ax[i]) / a;
                        else if (a < 0 && ilo[i]) dist = (ax[i] - rlo[i]) / -a;
                        else continue;
                        if (dist < best) { best = dist; at = i; side = a > 0 ? 1 : -1; }
                    }
                }
                if (at >= 0) { rayrow[j] = at; cf[j] |= side > 0 ? RAY_UP : RAY_LO; }
                else unmet = 1;
            }
            if (cf[j] & (BELOW | ABOVE)) any_bound = 1;
            if (cf[j] & (WRONG | PUSH_LO | PUSH_UP | RAY_LO | RAY_UP)) any_move = 1;
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
            if (!(cf[j] & (bounds ? (BELOW | ABOVE) : (WRONG | PUSH_LO | PUSH_UP | RAY_LO | RAY_UP)))) continue;
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
            else if (f & (RAY_LO | RAY_UP)) { act_lo[rayrow[j]] = (f & RAY_LO) != 0; act_up[rayrow[j]] = (f & RAY_UP) != 0; }
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
    free(rs); free(ci); free(cs); free(ri); free(rv); free(cv); free(Fof); free(rayrow); free(d);
    free(bs); free(bk); free(kof); free(bv); free(acc); free(rhs); free(w); free(W);
    return status;
}

/* Whether x (with A x = ax) lies on the wrong side of a bound or an
 * inequality row's side, by more than `slack` relative to it, where the
 * active set does not hold it there; with `fix`, those are made active
 * (at_lo ... act_up changed).  models/program.py's _wrong_side, operation
 * for operation (its bounds moved by sign * slack * max(1, |b|)). */
static int wrong_side(int m, int n, const double *x, const double *ax, const double *lo, const double *up, const double *rlo, const double *rup, double slack, int fix,
                      unsigned char *at_lo, unsigned char *at_up, unsigned char *act_lo, unsigned char *act_up) {
    int any = 0;
    for (int j = 0; j < n; j++) {
        double l = slack ? lo[j] + (-1.0 * slack) * fmax(1.0, fabs(lo[j])) : lo[j];
        double u = slack ? up[j] + (1.0 * slack) * fmax(1.0, fabs(up[j])) : up[j];
        int below = x[j] < l && !at_lo[j], above = x[j] > u && !at_up[j] && !below;
        if (below || above) { any = 1; if (!fix) return 1; at_lo[j] |= below; at_up[j] |= above; }
    }
    for (int i = 0; i < m; i++) {
        if (isfinite(rlo[i]) && isfinite(rup[i]) && rlo[i] == rup[i]) continue;
        double l = slack ? rlo[i] + (-1.0 * slack) * fmax(1.0, fabs(rlo[i])) : rlo[i];
        double u = slack ? rup[i] + (1.0 * slack) * fmax(1.0, fabs(rup[i])) : rup[i];
        int below = ax[i] < l && !act_lo[i], above = ax[i] > u && !act_up[i] && !below;
        if (below || above) { any = 1; if (!fix) return 1; act_lo[i] |= below; act_up[i] |= above; }
    }
    return any;
}

/* A x over the matrix's entries in its column order, as numpy's
 * bincount sums them in models/sparse.py's Matrix @ x. */
static void times(int m, int n, const long long *start, const long long *index, const double *value, const double *x, double *ax) {
    for (int i = 0; i < m; i++) ax[i] = 0.0;
    for (int j = 0; j < n; j++)
        for (long long e = start[j]; e < start[j + 1]; e++) ax[index[e]] += value[e] * x[j];
}

/* The matrix by column (start: n + 1, index and value: start[n]), one
 * buffer in, one out, one of flags.  in = c, lo, up (n), rlo, rup (m),
 * hd (n), x (n), y (m); flags = at_lo, at_up (n), act_lo, act_up (m);
 * out = x (n), y (m).  `degenerate`: solve singular systems here (see
 * kkt_step).
 *
 * `settle_rounds` >= 0: the KKT point found is settled as
 * models/program.py's _settled settles it, with the second polish's
 * rounds and strictness `settle_rounds` and `settle_strict`: the
 * variables and inequality rows it leaves on the wrong side of a bound
 * are made active and the active set solved once more, from the point
 * clipped to its bounds.  The settled point is written and 0 returned
 * when that second polish finds a KKT point that lies within
 * SETTLED_SLACK of its bounds, the first point when there was nothing
 * to settle or the second polish finds no KKT point (as _settled keeps
 * it); 3 (the first point written) when the rest is _settled's to do
 * in Python: the second polish needs the Python step, or its point
 * lies further across a bound.  Half of a fixed point's polished points
 * have a tied flow a hair below zero; settled here, each costs no
 * second call from Python and no _wrong_side there (session 23). */
int mineq_polish(int m, int n, const long long *start, const long long *index, const double *value, const double *in,
                 double sense, double tol, int rounds, int strict, int given, int degenerate, int settle_rounds, int settle_strict, double settled_slack,
                 unsigned char *flags, double *out) {
    const double *c = in, *lo = c + n, *up = lo + n, *rlo = up + n, *rup = rlo + m, *hd = rup + m, *x = hd + n, *y = x + n;
    size_t nn = (size_t)n, mm = (size_t)m, nflags = 2 * (nn + mm);
    unsigned char *at_lo = flags, *at_up = flags + n, *act_lo = flags + 2 * n, *act_up = flags + 2 * n + m;
    int status = polish(m, n, start, index, value, c, lo, up, rlo, rup, hd, sense, x, y, tol, rounds, strict, given, degenerate, at_lo, at_up, act_lo, act_up, out, out + n);
    if (status != 0 || settle_rounds < 0) return status;
    /* the first point and its active set, kept: what _settled returns
     * when the second polish finds nothing, or hands back */
    double *ax = malloc(sizeof(double) * (mm + 1)), *first = malloc(sizeof(double) * (nn + mm + 1)), *x2 = malloc(sizeof(double) * (nn + 1));
    unsigned char *kept = malloc(nflags + 1);
    if (!ax || !first || !x2 || !kept) { status = 3; goto done; }
    memcpy(first, out, sizeof(double) * (nn + mm));
    memcpy(kept, flags, nflags);
    times(m, n, start, index, value, out, ax);
    /* the wrong-side ones made active in flags, the second polish's start */
    if (!wrong_side(m, n, out, ax, lo, up, rlo, rup, 0.0, 1, at_lo, at_up, act_lo, act_up)) goto done;
    for (int j = 0; j < n; j++) x2[j] = fmin(fmax(first[j], lo[j]), up[j]);
    int again = polish(m, n, start, index, value, c, lo, up, rlo, rup, hd, sense, x2, first + n, tol, settle_rounds, settle_strict, 1, degenerate, at_lo, at_up, act_lo, act_up, out, out + n);
    if (again == 0) {
        times(m, n, start, index, value, out, ax);
        if (wrong_side(m, n, out, ax, lo, up, rlo, rup, settled_slack, 0, at_lo, at_up, act_lo, act_up)) status = 3;
    } else if (again != 1) {
        status = 3;
    }
    if (status != 0 || again != 0) {
        memcpy(out, first, sizeof(double) * (nn + mm));
        memcpy(flags, kept, nflags);
    }
done:
    free(ax); free(first); free(x2); free(kept);
    return status;
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_polish", "The compiled active-set step (see _polish.c); used through ctypes.", -1, NULL};

PyMODINIT_FUNC PyInit__polish(void) { return PyModule_Create(&module); }
