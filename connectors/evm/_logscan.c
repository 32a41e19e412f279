/* The eth_getLogs answer -> edge rows hot path of connectors.evm.decode, in C.
 *
 * Why: on a dense chain the sync's own CPU is the bottleneck, and most of it was building Python
 * objects for every field of every log (msgspec structs) and then slicing them again in Python
 * (~2 us per log in all: msgspec's structs and the Python row loop).  This scans the answer's bytes once and builds only the row tuples.
 *
 * It is a fast path, never a second definition: it handles the answers real nodes send (a JSON
 * object whose "result" is an array of log objects with hex strings, every transfer block's time in
 * its logs, every token's decimals known) and returns None for anything else -- an escape, a null,
 * an unexpected type, a number it would have to interpret, a missing time, an unknown token, a
 * duplicate key -- and then connectors.evm.decode decodes the answer in Python, which decides.  So a
 * row made here is the row decode._rows makes (tests/test_evm_logscan.py checks them equal on
 * recorded, node-made and generated answers).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char TOPIC[] = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

typedef struct { const char *p, *end; } Cur;
typedef struct { const char *s; Py_ssize_t n; int set; } Span;

#define FAIL (-1)
#define MAX_DEPTH 64

static inline void ws(Cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) c->p++;
}

/* A string without escapes, ASCII only (what hex fields are): its span, past the closing quote. */
static int plain_string(Cur *c, Span *out) {
    if (c->p >= c->end || *c->p != '"') return FAIL;
    const char *s = ++c->p;
    const char *q = memchr(s, '"', (size_t)(c->end - s));
    if (!q) return FAIL;
    unsigned bad = 0;
    for (const unsigned char *u = (const unsigned char *)s; u < (const unsigned char *)q; u++)
        bad |= (unsigned)(*u == '\\') | (unsigned)(*u < 0x20) | (unsigned)(*u >= 0x80);
    if (bad) return FAIL;
    out->s = s; out->n = q - s; out->set = 1;
    c->p = q + 1;
    return 0;
}

static int skip_value(Cur *c, int depth);

static int skip_string(Cur *c) {
    if (c->p >= c->end || *c->p != '"') return FAIL;
    c->p++;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"') return 0;
        if (ch < 0x20 || ch >= 0x80) return FAIL;  /* control (invalid JSON) or non-ASCII: Python decides */
        if (ch == '\\') {
            if (c->p >= c->end) return FAIL;
            ch = (unsigned char)*c->p++;
            if (ch == 'u') {
                for (int i = 0; i < 4; i++) {
                    if (c->p >= c->end || !isxdigit((unsigned char)*c->p)) return FAIL;
                    c->p++;
                }
            } else if (!strchr("\"\\/bfnrt", ch) || ch == 0) {
                return FAIL;
            }
        }
    }
    return FAIL;
}

static int skip_number(Cur *c) {
    const char *p = c->p, *e = c->end;
    if (p < e && *p == '-') p++;
    if (p >= e) return FAIL;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') { while (p < e && *p >= '0' && *p <= '9') p++; }
    else return FAIL;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || !(*p >= '0' && *p <= '9')) return FAIL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || !(*p >= '0' && *p <= '9')) return FAIL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    c->p = p;
    return 0;
}

static int literal(Cur *c, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return FAIL;
    c->p += n;
    return 0;
}

static int skip_container(Cur *c, int depth, char close) {
    if (depth > MAX_DEPTH) return FAIL;
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == close) { c->p++; return 0; }
    for (;;) {
        if (close == '}') {
            if (skip_string(c)) return FAIL;
            ws(c);
            if (c->p >= c->end || *c->p != ':') return FAIL;
            c->p++;
            ws(c);
        }
        if (skip_value(c, depth + 1)) return FAIL;
        ws(c);
        if (c->p >= c->end) return FAIL;
        if (*c->p == ',') { c->p++; ws(c); continue; }
        if (*c->p == close) { c->p++; return 0; }
        return FAIL;
    }
}

static int skip_value(Cur *c, int depth) {
    if (c->p >= c->end) return FAIL;
    switch (*c->p) {
    case '"': return skip_string(c);
    case '{': return skip_container(c, depth, '}');
    case '[': return skip_container(c, depth, ']');
    case 't': return literal(c, "true");
    case 'f': return literal(c, "false");
    case 'n': return literal(c, "null");
    default: return skip_number(c);
    }
}

static signed char HEX[256];

static void hex_init(void) {
    memset(HEX, -1, sizeof HEX);
    for (int i = 0; i < 10; i++) HEX['0' + i] = (signed char)i;
    for (int i = 0; i < 6; i++) { HEX['a' + i] = (signed char)(10 + i); HEX['A' + i] = (signed char)(10 + i); }
}

/* "0x"/"0X" + 1..maxdigits hex digits, as int(s, 16) reads it; else FAIL. */
static int hex_u64(const Span *s, int maxdigits, uint64_t *out) {
    if (s->n < 3 || s->n > 2 + maxdigits || s->s[0] != '0' || (s->s[1] != 'x' && s->s[1] != 'X')) return FAIL;
    uint64_t v = 0;
    int bad = 0;
    for (Py_ssize_t i = 2; i < s->n; i++) {
        int d = HEX[(unsigned char)s->s[i]];
        bad |= d;
        v = (v << 4) | (uint64_t)(d & 15);
    }
    if (bad < 0) return FAIL;
    *out = v;
    return 0;
}

/* "0x"/"0X" + 1..64 hex digits as a uint256 (limbs, most significant first). */
static int hex_u256(const Span *s, uint64_t limb[4]) {
    if (s->n < 3 || s->n > 66 || s->s[0] != '0' || (s->s[1] != 'x' && s->s[1] != 'X')) return FAIL;
    const unsigned char *d = (const unsigned char *)s->s + 2;
    Py_ssize_t n = s->n - 2;
    int bad = 0;
    for (int k = 3; k >= 0; k--) {  /* limb k holds the digits [n - 16 (4 - k), n - 16 (3 - k)) */
        Py_ssize_t hi = n - 16 * (3 - k), lo = hi - 16;
        if (lo < 0) lo = 0;
        uint64_t v = 0;
        for (Py_ssize_t i = lo; i < hi; i++) {
            int x = HEX[d[i]];
            bad |= x;
            v = (v << 4) | (uint64_t)(x & 15);
        }
        limb[k] = hi > 0 ? v : 0;
    }
    return bad < 0 ? FAIL : 0;
}

/* A uint256 in decimal (str(int)); buf of at least 80 bytes; returns the length, digits at buf.
 * 32-bit limbs divided by 10^9: 64-bit divisions by a constant (multiplications), not __int128 ones. */
/* A uint64 in decimal at buf; returns the length. */
static Py_ssize_t u64_decimal(uint64_t v, char *buf) {
    char tmp[24];
    int pos = 24;
    do { tmp[--pos] = (char)('0' + v % 10); v /= 10; } while (v);
    memcpy(buf, tmp + pos, (size_t)(24 - pos));
    return 24 - pos;
}

static Py_ssize_t u256_decimal(uint64_t limb[4], char *buf) {
    if (!limb[0] && !limb[1] && !limb[2]) return u64_decimal(limb[3], buf);
    uint32_t x[8];
    for (int i = 0; i < 4; i++) { x[2 * i] = (uint32_t)(limb[i] >> 32); x[2 * i + 1] = (uint32_t)limb[i]; }
    int top = 0;
    char tmp[96];
    int pos = 96;
    for (;;) {
        while (top < 8 && !x[top]) top++;
        uint64_t rem = 0;
        for (int i = top; i < 8; i++) {
            uint64_t cur = (rem << 32) | x[i];
            x[i] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        while (top < 8 && !x[top]) top++;
        uint32_t chunk = (uint32_t)rem;
        if (top == 8) {  /* the most significant chunk: no leading zeros */
            do { tmp[--pos] = (char)('0' + chunk % 10); chunk /= 10; } while (chunk);
            break;
        }
        for (int k = 0; k < 9; k++) { tmp[--pos] = (char)('0' + chunk % 10); chunk /= 10; }
    }
    memcpy(buf, tmp + pos, (size_t)(96 - pos));
    return 96 - pos;
}

static PyObject *ascii_str(const char *s, Py_ssize_t n) {
    PyObject *o = PyUnicode_New(n, 127);
    if (o) memcpy(PyUnicode_1BYTE_DATA(o), s, (size_t)n);
    return o;
}

/* --- a small open-addressing table: byte key (pointing into the body) -> slot index ------------- */
typedef struct { const char *k; Py_ssize_t n; uint64_t h; Py_ssize_t v; } Entry;
typedef struct { Entry *e; Py_ssize_t cap, used; } Table;

static uint64_t hash_bytes(const char *s, Py_ssize_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    for (; i < n; i++) { h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL; }
    return h ^ (h >> 29);
}

static int table_init(Table *t, Py_ssize_t cap) {
    t->e = PyMem_Calloc((size_t)cap, sizeof(Entry));
    t->cap = cap; t->used = 0;
    return t->e ? 0 : FAIL;
}

static Py_ssize_t table_get(Table *t, const char *k, Py_ssize_t n, uint64_t h) {
    Py_ssize_t i = (Py_ssize_t)(h & (uint64_t)(t->cap - 1));
    for (;;) {
        Entry *e = &t->e[i];
        if (!e->k) return -1;
        if (e->h == h && e->n == n && memcmp(e->k, k, (size_t)n) == 0) return e->v;
        i = (i + 1) & (t->cap - 1);
    }
}

static int table_put(Table *t, const char *k, Py_ssize_t n, uint64_t h, Py_ssize_t v) {
    if ((t->used + 1) * 2 > t->cap) {
        Table bigger;
        if (table_init(&bigger, t->cap * 2)) return FAIL;
        for (Py_ssize_t i = 0; i < t->cap; i++) {
            Entry *e = &t->e[i];
            if (!e->k) continue;
            Py_ssize_t j = (Py_ssize_t)(e->h & (uint64_t)(bigger.cap - 1));
            while (bigger.e[j].k) j = (j + 1) & (bigger.cap - 1);
            bigger.e[j] = *e;
        }
        bigger.used = t->used;
        PyMem_Free(t->e);
        *t = bigger;
    }
    Py_ssize_t i = (Py_ssize_t)(h & (uint64_t)(t->cap - 1));
    while (t->e[i].k) i = (i + 1) & (t->cap - 1);
    t->e[i].k = k; t->e[i].n = n; t->e[i].h = h; t->e[i].v = v;
    t->used++;
    return 0;
}

/* --- per-contract facts -------------------------------------------------------------------------- */
typedef struct {
    PyObject *asset;     /* asset prefix + contract */
    PyObject *decimals;  /* spec.decimals.get(contract): an int or None */
    PyObject *lower;     /* the contract, lower-case */
    int known;           /* its decimals are in spec.decimals (maybe None) */
    char *attr_head;     /* {"contract":"<contract>","log_index": */
    Py_ssize_t attr_head_n;
    PyObject **attrs;    /* log index -> attrs string of an ERC-20 row, made once each */
    Py_ssize_t n_attrs;
} Contract;

typedef struct {
    Contract *v;
    Py_ssize_t n, cap;
} Contracts;

static void contracts_free(Contracts *cs) {
    for (Py_ssize_t i = 0; i < cs->n; i++) {
        Contract *c = &cs->v[i];
        Py_XDECREF(c->asset); Py_XDECREF(c->decimals); Py_XDECREF(c->lower);
        PyMem_Free(c->attr_head);
        for (Py_ssize_t j = 0; j < c->n_attrs; j++) Py_XDECREF(c->attrs[j]);
        PyMem_Free(c->attrs);
    }
    PyMem_Free(cs->v);
}

/* The fields of a log this reads. */
typedef struct {
    Span topics[4];
    Py_ssize_t n_topics;
    int topics_set;
    Span data, address, block_number, block_hash, tx, log_index, stamp;
    int removed, removed_set;
} Log;

static int key_is(const Span *k, const char *name, size_t n) {
    return (size_t)k->n == n && memcmp(k->s, name, n) == 0;
}

/* One log object into ``log``; FAIL on anything this does not read the way Python would. */
static int parse_log(Cur *c, Log *log) {
    memset(log, 0, sizeof(*log));
    if (c->p >= c->end || *c->p != '{') return FAIL;
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == '}') { c->p++; return 0; }
    for (;;) {
        Span k = {0};
        if (plain_string(c, &k)) return FAIL;
        ws(c);
        if (c->p >= c->end || *c->p != ':') return FAIL;
        c->p++;
        ws(c);
        Span *field = NULL;
        switch (k.n) {
        case 4: if (key_is(&k, "data", 4)) field = &log->data; break;
        case 6:
            if (key_is(&k, "topics", 6)) {
                if (log->topics_set || c->p >= c->end || *c->p != '[') return FAIL;
                log->topics_set = 1;
                c->p++;
                ws(c);
                if (c->p < c->end && *c->p == ']') { c->p++; goto next; }
                for (;;) {
                    Span t = {0};
                    if (plain_string(c, &t)) return FAIL;
                    if (log->n_topics < 4) log->topics[log->n_topics] = t;
                    log->n_topics++;
                    ws(c);
                    if (c->p >= c->end) return FAIL;
                    if (*c->p == ',') { c->p++; ws(c); continue; }
                    if (*c->p == ']') { c->p++; break; }
                    return FAIL;
                }
                goto next;
            }
            break;
        case 7:
            if (key_is(&k, "address", 7)) field = &log->address;
            else if (key_is(&k, "removed", 7)) {
                if (log->removed_set) return FAIL;
                log->removed_set = 1;
                if (!literal(c, "true")) log->removed = 1;
                else if (!literal(c, "false")) log->removed = 0;
                else return FAIL;
                goto next;
            }
            break;
        case 8: if (key_is(&k, "logIndex", 8)) field = &log->log_index; break;
        case 9: if (key_is(&k, "blockHash", 9)) field = &log->block_hash; break;
        case 11: if (key_is(&k, "blockNumber", 11)) field = &log->block_number; break;
        case 14: if (key_is(&k, "blockTimestamp", 14)) field = &log->stamp; break;
        case 15: if (key_is(&k, "transactionHash", 15)) field = &log->tx; break;
        default: break;
        }
        if (field) {
            if (field->set || plain_string(c, field)) return FAIL;
        } else if (skip_value(c, 1)) {
            return FAIL;
        }
    next:
        ws(c);
        if (c->p >= c->end) return FAIL;
        if (*c->p == ',') { c->p++; ws(c); continue; }
        if (*c->p == '}') { c->p++; return 0; }
        return FAIL;
    }
}

static PyObject *S_PAID, *S_NFT;

typedef struct {
    PyObject *chain, *source, *asset, *wallet, *block_prefix, *iso_time, *decimals;
    const char *wallet_s; Py_ssize_t wallet_n;
} Spec;

typedef struct {
    PyObject *rows, *stamps, *hashes, *contracts;  /* list, dict, dict, set */
    Py_ssize_t bad, n_logs;
    long long twice;
    /* the block being read */
    const char *last_bn; Py_ssize_t last_bn_n; int have_block;
    PyObject *block, *when, *bp, *bhash;
    const char *bp_s; Py_ssize_t bp_n;
    const char *last_tx; Py_ssize_t last_tx_n; PyObject *tx;
    Table wallets; PyObject **wallet_objs; Py_ssize_t n_wallets, cap_wallets;
    Table ctab; Contracts cs;
} State;

/* The wallet id of an address topic (its 40 hex digits, lower-case, after the wallet prefix). */
static PyObject *wallet_of(State *st, const Spec *sp, const char *hex40) {
    uint64_t h = hash_bytes(hex40, 40);
    Py_ssize_t i = table_get(&st->wallets, hex40, 40, h);
    if (i >= 0) return st->wallet_objs[i];
    Py_ssize_t n = sp->wallet_n + 42;
    PyObject *o = PyUnicode_New(n, 127);
    if (!o) return NULL;
    char *d = (char *)PyUnicode_1BYTE_DATA(o);
    memcpy(d, sp->wallet_s, (size_t)sp->wallet_n);
    d[sp->wallet_n] = '0'; d[sp->wallet_n + 1] = 'x';
    for (int j = 0; j < 40; j++) {
        char ch = hex40[j];
        d[sp->wallet_n + 2 + j] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    if (st->n_wallets == st->cap_wallets) {
        Py_ssize_t cap = st->cap_wallets ? st->cap_wallets * 2 : 256;
        PyObject **v = PyMem_Realloc(st->wallet_objs, (size_t)cap * sizeof(PyObject *));
        if (!v) { Py_DECREF(o); PyErr_NoMemory(); return NULL; }
        st->wallet_objs = v; st->cap_wallets = cap;
    }
    if (table_put(&st->wallets, hex40, 40, h, st->n_wallets)) { Py_DECREF(o); PyErr_NoMemory(); return NULL; }
    st->wallet_objs[st->n_wallets++] = o;
    return o;
}

/* Returns the contract's slot, -2 when its decimals are unknown (Python decides), -1 on error. */
static Py_ssize_t contract_of(State *st, const Spec *sp, const Span *addr, int erc20) {
    uint64_t h = hash_bytes(addr->s, addr->n);
    Py_ssize_t i = table_get(&st->ctab, addr->s, addr->n, h);
    if (i >= 0) {
        if (erc20 && !st->cs.v[i].known) return -2;  /* first seen ERC-721 shaped: decimals unknown */
        if (erc20 && PySet_Add(st->contracts, st->cs.v[i].lower)) return -1;
        return i;
    }
    char low[256];
    if (addr->n > (Py_ssize_t)sizeof(low) - 1) return -2;
    for (Py_ssize_t j = 0; j < addr->n; j++) {
        char ch = addr->s[j];
        low[j] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    PyObject *lower = ascii_str(low, addr->n);
    if (!lower) return -1;
    PyObject *dec = PyDict_GetItemWithError(sp->decimals, lower);  /* borrowed */
    if (!dec && PyErr_Occurred()) { Py_DECREF(lower); return -1; }
    if (!dec && erc20) { Py_DECREF(lower); return -2; }  /* a token without decimals yet */
    PyObject *asset = PyUnicode_Concat(sp->asset, lower);
    if (!asset) { Py_DECREF(lower); return -1; }
    if (st->cs.n == st->cs.cap) {
        Py_ssize_t cap = st->cs.cap ? st->cs.cap * 2 : 8;
        Contract *v = PyMem_Realloc(st->cs.v, (size_t)cap * sizeof(Contract));
        if (!v) { Py_DECREF(lower); Py_DECREF(asset); PyErr_NoMemory(); return -1; }
        st->cs.v = v; st->cs.cap = cap;
    }
    Contract *c = &st->cs.v[st->cs.n];
    memset(c, 0, sizeof(*c));
    c->lower = lower; c->asset = asset;
    c->known = dec != NULL;
    c->decimals = dec ? dec : Py_None;
    Py_INCREF(c->decimals);
    c->attr_head_n = 13 + addr->n + 14;
    c->attr_head = PyMem_Malloc((size_t)c->attr_head_n + 1);
    st->cs.n++;  /* owned by the table from here: freed with it */
    if (!c->attr_head) { PyErr_NoMemory(); return -1; }
    memcpy(c->attr_head, "{\"contract\":\"", 13);
    memcpy(c->attr_head + 13, low, (size_t)addr->n);
    memcpy(c->attr_head + 13 + addr->n, "\",\"log_index\":", 14);
    c->attr_head[c->attr_head_n] = 0;
    if (table_put(&st->ctab, addr->s, addr->n, h, st->cs.n - 1)) { PyErr_NoMemory(); return -1; }
    if (erc20 && PySet_Add(st->contracts, lower)) return -1;
    return st->cs.n - 1;
}

/* The ERC-20 attrs of (contract, log index): '{"contract":"<c>","log_index":<li>}', made once. */
static PyObject *erc20_attrs(Contract *c, uint64_t li) {
    if (li >= 65536) {  /* not cached past decode.CACHED_LOG_INDEXES: a block holds far fewer logs */
        PyObject *o = PyUnicode_FromFormat("%s%llu}", c->attr_head, (unsigned long long)li);
        return o;  /* new reference */
    }
    if ((Py_ssize_t)li >= c->n_attrs) {
        Py_ssize_t n = (Py_ssize_t)li + 1;
        if (n < c->n_attrs * 2) n = c->n_attrs * 2;
        PyObject **v = PyMem_Realloc(c->attrs, (size_t)n * sizeof(PyObject *));
        if (!v) { PyErr_NoMemory(); return NULL; }
        memset(v + c->n_attrs, 0, (size_t)(n - c->n_attrs) * sizeof(PyObject *));
        c->attrs = v; c->n_attrs = n;
    }
    if (!c->attrs[li]) {
        char buf[32];
        int k = snprintf(buf, sizeof buf, "%llu}", (unsigned long long)li);
        PyObject *o = PyUnicode_New(c->attr_head_n + k, 127);
        if (!o) return NULL;
        memcpy(PyUnicode_1BYTE_DATA(o), c->attr_head, (size_t)c->attr_head_n);
        memcpy(PyUnicode_1BYTE_DATA(o) + c->attr_head_n, buf, (size_t)k);
        c->attrs[li] = o;
    }
    Py_INCREF(c->attrs[li]);
    return c->attrs[li];
}

#define DECIDE_IN_PYTHON 1  /* row(): Python decides this answer */

/* A block time as connectors.evm.decode.iso_time writes it ("YYYY-MM-DDTHH:MM:SSZ", UTC), made
   here for 1970-01-01 to 9999-12-31 (the civil date of a day count, Howard Hinnant's
   civil_from_days); a later time goes to iso_time itself.  Why: a sparse chain has a block every
   transfer or two, and a Python call per block cost ~10 ms of a 6,000-block sync. */
static PyObject *iso_of(uint64_t ts, PyObject *stamp, PyObject *fallback) {
    if (ts > 253402300799ULL) return PyObject_CallOneArg(fallback, stamp);
    uint64_t sod = ts % 86400, z = ts / 86400 + 719468;
    uint64_t era = z / 146097, doe = z - era * 146097;
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    uint64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    uint64_t y = yoe + era * 400 + (m <= 2);
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%04llu-%02llu-%02lluT%02llu:%02llu:%02lluZ", (unsigned long long)y,
                     (unsigned long long)m, (unsigned long long)d, (unsigned long long)(sod / 3600),
                     (unsigned long long)(sod % 3600 / 60), (unsigned long long)(sod % 60));
    return PyUnicode_FromStringAndSize(buf, n);
}

/* The block a log is in, when it is not the one before: its number, time, id prefix and hash. */
static int new_block(State *st, const Spec *sp, Log *log) {
    uint64_t bn, ts;
    if (!log->block_number.set || hex_u64(&log->block_number, 15, &bn)) return DECIDE_IN_PYTHON;
    if (!log->stamp.set || log->stamp.n < 3 || log->stamp.s[0] != '0' || log->stamp.s[1] != 'x'
        || hex_u64(&log->stamp, 15, &ts)) return DECIDE_IN_PYTHON;  /* no time (or not one Python reads) */
    PyObject *block = PyLong_FromUnsignedLongLong(bn);
    if (!block) return FAIL;
    PyObject *stamp = PyLong_FromUnsignedLongLong(ts);
    if (!stamp) { Py_DECREF(block); return FAIL; }
    PyObject *prev = PyDict_GetItemWithError(st->stamps, block);
    if (!prev && PyErr_Occurred()) { Py_DECREF(block); Py_DECREF(stamp); return FAIL; }
    if (prev) {
        int eq = PyObject_RichCompareBool(prev, stamp, Py_EQ);
        if (eq != 1) { Py_DECREF(block); Py_DECREF(stamp); return eq < 0 ? FAIL : DECIDE_IN_PYTHON; }
    }
    if (PyDict_SetItem(st->stamps, block, stamp)) { Py_DECREF(block); Py_DECREF(stamp); return FAIL; }
    PyObject *when = iso_of(ts, stamp, sp->iso_time);
    Py_DECREF(stamp);
    if (!when) { PyErr_Clear(); Py_DECREF(block); return DECIDE_IN_PYTHON; }  /* Python raises it */
    PyObject *bp = PyObject_CallFunctionObjArgs(sp->block_prefix, sp->chain, block, NULL);
    if (!bp || !PyUnicode_Check(bp) || !PyUnicode_IS_ASCII(bp)) {
        Py_XDECREF(bp); Py_DECREF(when); Py_DECREF(block);
        PyErr_Clear();
        return DECIDE_IN_PYTHON;
    }
    PyObject *bh = log->block_hash.set ? ascii_str(log->block_hash.s, log->block_hash.n) : PyUnicode_New(0, 127);
    if (!bh) { Py_DECREF(bp); Py_DECREF(when); Py_DECREF(block); return FAIL; }
    PyObject *bhash = PyDict_SetDefault(st->hashes, block, bh);  /* borrowed */
    Py_DECREF(bh);
    if (!bhash) { Py_DECREF(bp); Py_DECREF(when); Py_DECREF(block); return FAIL; }
    Py_INCREF(bhash);
    Py_XSETREF(st->block, block);
    Py_XSETREF(st->when, when);
    Py_XSETREF(st->bp, bp);
    Py_XSETREF(st->bhash, bhash);
    st->bp_s = (const char *)PyUnicode_1BYTE_DATA(bp);
    st->bp_n = PyUnicode_GET_LENGTH(bp);
    st->last_bn = log->block_number.s; st->last_bn_n = log->block_number.n;
    st->have_block = 1;
    return 0;
}

/* decode._rows' loop body for one log: 0 done, FAIL error set, DECIDE_IN_PYTHON. */
static int row(State *st, const Spec *sp, Log *log) {
    if (!log->topics_set || log->n_topics == 0) return 0;
    const Span *t0 = &log->topics[0];
    if (t0->n != 66) return 0;
    for (int i = 0; i < 66; i++) {
        char ch = t0->s[i];
        if (((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch) != TOPIC[i]) return 0;
    }
    Py_ssize_t dlen = log->data.set && log->data.n ? log->data.n : 2;
    uint64_t value[4];
    int erc20;
    if (log->n_topics == 3 && dlen == 66) {
        erc20 = 1;
        if (hex_u256(&log->data, value)) return DECIDE_IN_PYTHON;
    } else if (log->n_topics == 4 && dlen <= 2) {
        erc20 = 0;
        if (hex_u256(&log->topics[3], value)) return DECIDE_IN_PYTHON;
    } else {
        st->bad++;
        return 0;
    }
    if (log->removed) return 0;
    const Span *a = &log->topics[1], *b = &log->topics[2];
    for (int k = 0; k < 2; k++) {
        const Span *t = k ? b : a;
        if (t->n != 66) { st->bad++; return 0; }
        for (int i = 2; i < 26; i++) if (t->s[i] != '0') { st->bad++; return 0; }
    }
    PyObject *src = wallet_of(st, sp, a->s + 26);
    if (!src) return FAIL;
    PyObject *dst = wallet_of(st, sp, b->s + 26);
    if (!dst) return FAIL;
    if (!log->address.set) return DECIDE_IN_PYTHON;
    Py_ssize_t ci = contract_of(st, sp, &log->address, erc20);
    if (ci == -1) return FAIL;
    if (ci == -2) return DECIDE_IN_PYTHON;
    Contract *c = &st->cs.v[ci];
    if (!st->have_block || log->block_number.n != st->last_bn_n
        || memcmp(log->block_number.s, st->last_bn, (size_t)st->last_bn_n) != 0) {
        int r = new_block(st, sp, log);
        if (r) return r;
    } else if (!log->stamp.set) {
        return DECIDE_IN_PYTHON;  /* a block whose time is in some of its logs only */
    }
    const char *bh = log->block_hash.set ? log->block_hash.s : "";
    Py_ssize_t bh_n = log->block_hash.set ? log->block_hash.n : 0;
    if (st->twice < 0) {
        Py_ssize_t kn;
        const char *ks = PyUnicode_AsUTF8AndSize(st->bhash, &kn);
        if (!ks) return FAIL;
        if (kn != bh_n || memcmp(ks, bh, (size_t)bh_n) != 0) {
            st->twice = PyLong_AsLongLong(st->block);
        }
    }
    uint64_t li;
    if (!log->log_index.set || hex_u64(&log->log_index, 15, &li)) return DECIDE_IN_PYTHON;
    if (!log->tx.set) return DECIDE_IN_PYTHON;
    if (!st->tx || log->tx.n != st->last_tx_n || memcmp(log->tx.s, st->last_tx, (size_t)st->last_tx_n) != 0) {
        PyObject *tx = ascii_str(log->tx.s, log->tx.n);
        if (!tx) return FAIL;
        Py_XSETREF(st->tx, tx);
        st->last_tx = log->tx.s; st->last_tx_n = log->tx.n;
    }
    char l6[32];
    Py_ssize_t l6n = u64_decimal(li, l6 + 6);  /* zero-padded to 6 digits: f"{li:06d}" */
    if (l6n < 6) { memset(l6, '0', 6); memmove(l6 + 6 - l6n, l6 + 6, (size_t)l6n); l6n = 6; }
    else memmove(l6, l6 + 6, (size_t)l6n);
    PyObject *id = PyUnicode_New(st->bp_n + l6n, 127);
    if (!id) return FAIL;
    memcpy(PyUnicode_1BYTE_DATA(id), st->bp_s, (size_t)st->bp_n);
    memcpy(PyUnicode_1BYTE_DATA(id) + st->bp_n, l6, (size_t)l6n);
    char dec[96];
    Py_ssize_t dn = u256_decimal(value, dec);
    PyObject *amount, *decimals, *attrs, *kind;
    if (erc20) {
        amount = ascii_str(dec, dn);
        if (!amount) { Py_DECREF(id); return FAIL; }
        attrs = erc20_attrs(c, li);
        if (!attrs) { Py_DECREF(id); Py_DECREF(amount); return FAIL; }
        decimals = c->decimals;
        Py_INCREF(decimals);
        kind = S_PAID;
    } else {
        amount = Py_None; Py_INCREF(amount);
        decimals = Py_None; Py_INCREF(decimals);
        char lis[32];
        int ln = snprintf(lis, sizeof lis, "%llu", (unsigned long long)li);
        Py_ssize_t n = c->attr_head_n + ln + 13 + dn + 2;
        attrs = PyUnicode_New(n, 127);
        if (!attrs) { Py_DECREF(id); Py_DECREF(amount); Py_DECREF(decimals); return FAIL; }
        char *d = (char *)PyUnicode_1BYTE_DATA(attrs);
        memcpy(d, c->attr_head, (size_t)c->attr_head_n); d += c->attr_head_n;
        memcpy(d, lis, (size_t)ln); d += ln;
        memcpy(d, ",\"token_id\":\"", 13); d += 13;
        memcpy(d, dec, (size_t)dn); d += dn;
        memcpy(d, "\"}", 2);
        kind = S_NFT;
    }
    PyObject *t = PyTuple_New(15);
    if (!t) { Py_DECREF(id); Py_DECREF(amount); Py_DECREF(decimals); Py_DECREF(attrs); return FAIL; }
    PyObject *items[15] = {id, kind, src, dst, sp->chain, c->asset, amount, decimals, st->when, st->block,
                           st->tx, attrs, sp->source, st->when, st->when};
    int owned[15] = {1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0};
    for (int i = 0; i < 15; i++) {
        if (!owned[i]) Py_INCREF(items[i]);
        PyTuple_SET_ITEM(t, i, items[i]);
    }
    PyObject_GC_UnTrack(t);  /* strings, ints and None: no cycle, so the collector need not walk it */
    int r = PyList_Append(st->rows, t);
    Py_DECREF(t);
    return r ? FAIL : 0;
}

static void state_free(State *st) {
    Py_XDECREF(st->rows); Py_XDECREF(st->stamps); Py_XDECREF(st->hashes); Py_XDECREF(st->contracts);
    Py_XDECREF(st->block); Py_XDECREF(st->when); Py_XDECREF(st->bp); Py_XDECREF(st->bhash); Py_XDECREF(st->tx);
    for (Py_ssize_t i = 0; i < st->n_wallets; i++) Py_DECREF(st->wallet_objs[i]);
    PyMem_Free(st->wallet_objs);
    PyMem_Free(st->wallets.e);
    PyMem_Free(st->ctab.e);
    contracts_free(&st->cs);
}

/* Scan the answer; 0 rows made, FAIL error set, DECIDE_IN_PYTHON. */
static int scan(State *st, const Spec *sp, Cur *c) {
    ws(c);
    if (c->p >= c->end || *c->p != '{') return DECIDE_IN_PYTHON;
    c->p++;
    ws(c);
    int have_result = 0;
    if (c->p < c->end && *c->p == '}') return DECIDE_IN_PYTHON;
    for (;;) {
        Span k = {0};
        if (plain_string(c, &k)) return DECIDE_IN_PYTHON;
        ws(c);
        if (c->p >= c->end || *c->p != ':') return DECIDE_IN_PYTHON;
        c->p++;
        ws(c);
        if (key_is(&k, "result", 6)) {
            if (have_result || c->p >= c->end || *c->p != '[') return DECIDE_IN_PYTHON;
            have_result = 1;
            c->p++;
            ws(c);
            if (c->p < c->end && *c->p == ']') {
                c->p++;
            } else {
                for (;;) {
                    Log log;
                    if (parse_log(c, &log)) return DECIDE_IN_PYTHON;
                    st->n_logs++;
                    int r = row(st, sp, &log);
                    if (r) return r;
                    ws(c);
                    if (c->p >= c->end) return DECIDE_IN_PYTHON;
                    if (*c->p == ',') { c->p++; ws(c); continue; }
                    if (*c->p == ']') { c->p++; break; }
                    return DECIDE_IN_PYTHON;
                }
            }
        } else if (key_is(&k, "error", 5)) {
            if (literal(c, "null")) return DECIDE_IN_PYTHON;  /* an error answer: Python reads it */
        } else if (skip_value(c, 1)) {
            return DECIDE_IN_PYTHON;
        }
        ws(c);
        if (c->p >= c->end) return DECIDE_IN_PYTHON;
        if (*c->p == ',') { c->p++; ws(c); continue; }
        if (*c->p == '}') { c->p++; break; }
        return DECIDE_IN_PYTHON;
    }
    ws(c);
    if (c->p != c->end || !have_result) return DECIDE_IN_PYTHON;
    return 0;
}

PyDoc_STRVAR(edge_rows_doc,
"edge_rows(body, chain, source, asset, wallet, block_prefix, iso_time, decimals)\n--\n\n"
"decode._rows over an eth_getLogs answer's bytes: (rows, malformed, logs, stamps, hashes, twice,\n"
"contracts), or None when Python must decide (see the module's comment).");

static PyObject *edge_rows(PyObject *self, PyObject *args) {
    Py_buffer body;
    Spec sp;
    if (!PyArg_ParseTuple(args, "y*UUUUOOO!:edge_rows", &body, &sp.chain, &sp.source, &sp.asset, &sp.wallet,
                          &sp.block_prefix, &sp.iso_time, &PyDict_Type, &sp.decimals))
        return NULL;
    PyObject *out = NULL;
    State st;
    memset(&st, 0, sizeof st);
    st.twice = -1;
    if (!PyUnicode_IS_ASCII(sp.wallet)) { PyBuffer_Release(&body); Py_RETURN_NONE; }
    sp.wallet_s = (const char *)PyUnicode_1BYTE_DATA(sp.wallet);
    sp.wallet_n = PyUnicode_GET_LENGTH(sp.wallet);
    st.rows = PyList_New(0);
    st.stamps = PyDict_New();
    st.hashes = PyDict_New();
    st.contracts = PySet_New(NULL);
    if (!st.rows || !st.stamps || !st.hashes || !st.contracts || table_init(&st.wallets, 1024)
        || table_init(&st.ctab, 16)) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto done;
    }
    Cur c = {(const char *)body.buf, (const char *)body.buf + body.len};
    /* No garbage collection while the rows are made: they are new tuples of strings and ints (no
     * cycles), and a collection every 700 of them re-walked the young ones for nothing. */
    int gc_was = PyGC_Disable();
    int r = scan(&st, &sp, &c);
    if (gc_was) PyGC_Enable();
    if (r == FAIL) goto done;
    if (r == DECIDE_IN_PYTHON) { out = Py_None; Py_INCREF(out); goto done; }
    /* a log without its block hash: Python fetches the block's header */
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(st.hashes, &pos, &k, &v)) {
        if (PyUnicode_GET_LENGTH(v) == 0) { out = Py_None; Py_INCREF(out); goto done; }
    }
    PyObject *contracts = PyFrozenSet_New(st.contracts);
    if (!contracts) goto done;
    PyObject *twice = st.twice >= 0 ? PyLong_FromLongLong(st.twice) : (Py_INCREF(Py_None), Py_None);
    if (!twice) { Py_DECREF(contracts); goto done; }
    out = Py_BuildValue("(OnnOONN)", st.rows, st.bad, st.n_logs, st.stamps, st.hashes, twice, contracts);
done:
    state_free(&st);
    PyBuffer_Release(&body);
    return out;
}

static PyMethodDef methods[] = {
    {"edge_rows", edge_rows, METH_VARARGS, edge_rows_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_logscan",
    "eth_getLogs answers to edge rows in C: the fast path of connectors.evm.decode.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__logscan(void) {
    hex_init();
    S_PAID = PyUnicode_InternFromString("paid");
    S_NFT = PyUnicode_InternFromString("nft_transfer");
    if (!S_PAID || !S_NFT) return NULL;
    return PyModule_Create(&module);
}
