/*
 * pgoutput.c: the logical replication stream's framing and pgoutput
 * messages (pgoutput.h), read from untrusted bytes.
 *
 * Everything is read through a cursor (struct rd) whose getters check what
 * is left before they read, and fail rather than read short; a count is
 * checked against the least its items can take before anything is
 * allocated for it, so that a lying count costs nothing.  A message must
 * end exactly where its last field does.
 */
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"

/* The least bytes a RELATION column takes: flags, "" name, type, typmod. */
#define COLUMN_MIN	(1 + 1 + 4 + 4)

/* What is left of a buffer being read. */
struct rd {
	const unsigned char	*p;
	size_t			 left;
};

static int
get_u8(struct rd *r, uint8_t *v)
{
	if (r->left < 1)
		return -1;
	*v = r->p[0];
	r->p++;
	r->left--;
	return 0;
}

static int
get_u16(struct rd *r, uint16_t *v)
{
	if (r->left < 2)
		return -1;
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->left -= 2;
	return 0;
}

static int
get_u32(struct rd *r, uint32_t *v)
{
	if (r->left < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 |
	    r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

static int
get_u64(struct rd *r, uint64_t *v)
{
	uint32_t	 hi, lo;

	if (r->left < 8)
		return -1;
	get_u32(r, &hi);
	get_u32(r, &lo);
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* Timestamps are signed on the wire; the conversion is modular in C compilers we use. */
static int
get_i64(struct rd *r, int64_t *v)
{
	uint64_t	 u;

	if (get_u64(r, &u) == -1)
		return -1;
	*v = (int64_t)u;
	return 0;
}

/* A NUL-terminated string, left where it is; *n its length without the NUL. */
static int
get_str(struct rd *r, const char **s, size_t *n)
{
	const unsigned char	*nul;

	if ((nul = memchr(r->p, '\0', r->left)) == NULL)
		return -1;
	*s = (const char *)r->p;
	*n = (size_t)(nul - r->p);
	r->p += *n + 1;
	r->left -= *n + 1;
	return 0;
}

/* A NUL-terminated string, copied. */
static int
dup_str(struct rd *r, char **out)
{
	const char	*s;
	size_t		 n;

	if (get_str(r, &s, &n) == -1 || (*out = malloc(n + 1)) == NULL)
		return -1;
	memcpy(*out, s, n + 1);
	return 0;
}

static int
get_bytes(struct rd *r, size_t n, const unsigned char **b)
{
	if (r->left < n)
		return -1;
	*b = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

static void
put_u64(unsigned char *p, uint64_t v)
{
	int	 i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

/* --- framing ---------------------------------------------------------------- */

int
repl_frame_parse(const unsigned char *buf, size_t len, struct repl_frame *out)
{
	struct rd	 r = { buf, len };
	uint8_t		 kind, reply;

	memset(out, 0, sizeof(*out));
	if (get_u8(&r, &kind) == -1)
		return -1;
	switch (kind) {
	case 'w':
		if (get_u64(&r, &out->wal_start) == -1 || get_u64(&r, &out->wal_end) == -1 ||
		    get_i64(&r, &out->send_time) == -1)
			goto bad;
		out->data = r.p;
		out->len = r.left;
		break;
	case 'k':
		/*
		 * The reply byte is strictly 0 or 1: anything else, like a
		 * keepalive of another length, means the framing is not what
		 * this reader thinks it is.
		 */
		if (get_u64(&r, &out->wal_end) == -1 || get_i64(&r, &out->send_time) == -1 ||
		    get_u8(&r, &reply) == -1 || reply > 1 || r.left != 0)
			goto bad;
		out->reply = reply == 1;
		break;
	default:
		goto bad;
	}
	out->kind = (char)kind;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -1;
}

void
repl_status_encode(unsigned char out[REPL_STATUS_LEN], uint64_t written, uint64_t flushed,
    uint64_t applied, int64_t now_pg_us, bool reply)
{
	out[0] = 'r';
	put_u64(out + 1, written);
	put_u64(out + 9, flushed);
	put_u64(out + 17, applied);
	put_u64(out + 25, (uint64_t)now_pg_us);
	out[33] = reply ? 1 : 0;
}

/* --- pgoutput ------------------------------------------------------------------ */

static void
tuple_clear(struct pgo_tuple *t)
{
	free(t->vals);
	t->vals = NULL;
	t->ncols = 0;
}

static void
relation_clear(struct pgo_relation *rel)
{
	int	 i;

	for (i = 0; i < rel->ncols; i++)
		free(rel->cols[i].name);
	free(rel->cols);
	free(rel->nspname);
	free(rel->relname);
	memset(rel, 0, sizeof(*rel));
}

void
pgo_msg_clear(struct pgo_msg *m)
{
	tuple_clear(&m->old);
	tuple_clear(&m->new);
	relation_clear(&m->rel);
	free(m->trunc_oids);
	memset(m, 0, sizeof(*m));
}

/* TupleData.  On -1, t holds nothing. */
static int
get_tuple(struct rd *r, struct pgo_tuple *t)
{
	struct pgo_value	*v;
	uint16_t		 n;
	uint32_t		 len;
	uint8_t			 kind;
	int			 i;

	/*
	 * Int16, signed in PostgreSQL: 0x8000 and up are negative, so over the
	 * cap.  Each value takes at least its kind byte.
	 */
	if (get_u16(r, &n) == -1 || n > PGO_MAX_COLS || n > r->left)
		return -1;
	t->ncols = 0;
	t->vals = NULL;
	if (n == 0)
		return 0;
	if ((t->vals = calloc(n, sizeof(*t->vals))) == NULL)
		return -1;
	t->ncols = n;
	for (i = 0; i < n; i++) {
		v = &t->vals[i];
		if (get_u8(r, &kind) == -1)
			goto bad;
		v->kind = (char)kind;
		switch (kind) {
		case 'n':
		case 'u':
			break;
		case 't':
		case 'b':
			/* Int32, signed in PostgreSQL: negative is refused with the rest. */
			if (get_u32(r, &len) == -1 || len > INT32_MAX ||
			    get_bytes(r, len, &v->data) == -1)
				goto bad;
			v->len = len;
			break;
		default:
			goto bad;
		}
	}
	return 0;
bad:
	tuple_clear(t);
	return -1;
}

static int
parse_relation(struct rd *r, struct pgo_relation *rel)
{
	struct pgo_column	*c;
	uint16_t		 n;
	uint8_t			 identity, flags;
	uint32_t		 typmod;
	int			 i;

	if (get_u32(r, &rel->oid) == -1 || dup_str(r, &rel->nspname) == -1 ||
	    dup_str(r, &rel->relname) == -1 || get_u8(r, &identity) == -1 ||
	    get_u16(r, &n) == -1 || n > PGO_MAX_COLS || (size_t)n * COLUMN_MIN > r->left)
		return -1;
	rel->identity = (char)identity;
	if (n == 0)
		return 0;
	if ((rel->cols = calloc(n, sizeof(*rel->cols))) == NULL)
		return -1;
	/* Counted before the columns are filled: relation_clear() frees what is there. */
	rel->ncols = n;
	for (i = 0; i < n; i++) {
		c = &rel->cols[i];
		/*
		 * PostgreSQL 15 sends flags 0 or 1 only; any other bit would
		 * be lost in a bool, so it is refused rather than guessed at.
		 */
		if (get_u8(r, &flags) == -1 || flags > 1 || dup_str(r, &c->name) == -1 ||
		    get_u32(r, &c->type_oid) == -1 || get_u32(r, &typmod) == -1)
			return -1;
		c->key = flags == 1;
		c->typmod = (int32_t)typmod;
	}
	return 0;
}

static int
parse_truncate(struct rd *r, struct pgo_msg *m)
{
	uint32_t	 n;
	int		 i;

	/* Int32, signed in PostgreSQL: negative counts are 2^31 and up here. */
	if (get_u32(r, &n) == -1 || get_u8(r, &m->flags) == -1 || n > INT32_MAX ||
	    n > r->left / 4)
		return -1;
	if (n == 0)
		return 0;
	if ((m->trunc_oids = calloc(n, sizeof(*m->trunc_oids))) == NULL)
		return -1;
	m->ntrunc = (int)n;
	/* Cannot run short: the bytes were counted above. */
	for (i = 0; i < m->ntrunc; i++)
		get_u32(r, &m->trunc_oids[i]);
	return 0;
}

/* The old tuple of an UPDATE or DELETE: marker 'K' or 'O', then TupleData. */
static int
parse_old(struct rd *r, struct pgo_msg *m)
{
	uint8_t	 marker;

	if (get_u8(r, &marker) == -1 || (marker != 'K' && marker != 'O'))
		return -1;
	m->has_old = true;
	m->old_kind = (char)marker;
	return get_tuple(r, &m->old);
}

/* The new tuple of an INSERT or UPDATE: marker 'N', then TupleData. */
static int
parse_new(struct rd *r, struct pgo_msg *m)
{
	uint8_t	 marker;

	if (get_u8(r, &marker) == -1 || marker != 'N')
		return -1;
	return get_tuple(r, &m->new);
}

int
pgo_parse(const unsigned char *buf, size_t len, struct pgo_msg *out)
{
	struct rd	 r = { buf, len };
	uint8_t		 type, flags;
	size_t		 n;
	uint32_t	 clen;

	memset(out, 0, sizeof(*out));
	if (get_u8(&r, &type) == -1)
		return -1;
	out->type = (char)type;
	switch (type) {
	case 'B':
		if (get_u64(&r, &out->lsn) == -1 || get_i64(&r, &out->time) == -1 ||
		    get_u32(&r, &out->xid) == -1)
			goto bad;
		break;
	case 'C':
		/* As PostgreSQL's own reader does (logicalrep_read_commit()). */
		if (get_u8(&r, &flags) == -1 || flags != 0 || get_u64(&r, &out->lsn) == -1 ||
		    get_u64(&r, &out->end_lsn) == -1 || get_i64(&r, &out->time) == -1)
			goto bad;
		break;
	case 'O':
		if (get_u64(&r, &out->lsn) == -1 || get_str(&r, &out->name, &n) == -1)
			goto bad;
		break;
	case 'R':
		if (parse_relation(&r, &out->rel) == -1)
			goto bad;
		break;
	case 'Y':
		if (get_u32(&r, &out->type_oid) == -1 || get_str(&r, &out->nspname, &n) == -1 ||
		    get_str(&r, &out->name, &n) == -1)
			goto bad;
		break;
	case 'I':
		if (get_u32(&r, &out->rel_oid) == -1 || parse_new(&r, out) == -1)
			goto bad;
		break;
	case 'U':
		if (get_u32(&r, &out->rel_oid) == -1)
			goto bad;
		/* The old tuple is there only when the next byte says so. */
		if (r.left > 0 && (r.p[0] == 'K' || r.p[0] == 'O') && parse_old(&r, out) == -1)
			goto bad;
		if (parse_new(&r, out) == -1)
			goto bad;
		break;
	case 'D':
		if (get_u32(&r, &out->rel_oid) == -1 || parse_old(&r, out) == -1)
			goto bad;
		break;
	case 'T':
		if (parse_truncate(&r, out) == -1)
			goto bad;
		break;
	case 'M':
		if (get_u8(&r, &out->flags) == -1 || get_u64(&r, &out->lsn) == -1 ||
		    get_str(&r, &out->name, &n) == -1 || get_u32(&r, &clen) == -1 ||
		    clen > INT32_MAX || get_bytes(&r, clen, &out->content) == -1)
			goto bad;
		out->content_len = clen;
		break;
	default:
		/* Not ours to read (streaming, two-phase, a later version): skipped. */
		out->type = '?';
		return 0;
	}
	if (r.left != 0)
		goto bad;
	return 0;
bad:
	pgo_msg_clear(out);
	return -1;
}

/* --- the relation cache ----------------------------------------------------- */

/*
 * Sorted by OID, for a binary search on every row.  Each relation is
 * allocated on its own so that what pgo_relations_get() returns stays put
 * when the array grows.
 */
struct pgo_relations {
	struct pgo_relation	**rels;
	size_t			  n;
	size_t			  cap;
};

struct pgo_relations *
pgo_relations_new(void)
{
	return calloc(1, sizeof(struct pgo_relations));
}

void
pgo_relations_free(struct pgo_relations *rs)
{
	size_t	 i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->n; i++) {
		relation_clear(rs->rels[i]);
		free(rs->rels[i]);
	}
	free(rs->rels);
	free(rs);
}

/* Where oid is, or would go: the first index whose OID is not below it. */
static size_t
find(const struct pgo_relations *rs, uint32_t oid)
{
	size_t	 lo = 0, hi = rs->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (rs->rels[mid]->oid < oid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
pgo_relations_put(struct pgo_relations *rs, struct pgo_relation *rel)
{
	struct pgo_relation	**grown, *copy;
	size_t			  at, cap;

	at = find(rs, rel->oid);
	if (at < rs->n && rs->rels[at]->oid == rel->oid) {
		relation_clear(rs->rels[at]);
		*rs->rels[at] = *rel;
		memset(rel, 0, sizeof(*rel));
		return 0;
	}
	if (rs->n == rs->cap) {
		cap = rs->cap == 0 ? 8 : rs->cap * 2;
		if ((grown = reallocarray(rs->rels, cap, sizeof(*grown))) == NULL)
			return -1;
		rs->rels = grown;
		rs->cap = cap;
	}
	if ((copy = malloc(sizeof(*copy))) == NULL)
		return -1;
	*copy = *rel;
	memmove(rs->rels + at + 1, rs->rels + at, (rs->n - at) * sizeof(*rs->rels));
	rs->rels[at] = copy;
	rs->n++;
	memset(rel, 0, sizeof(*rel));
	return 0;
}

const struct pgo_relation *
pgo_relations_get(const struct pgo_relations *rs, uint32_t oid)
{
	size_t	 at;

	at = find(rs, oid);
	if (at < rs->n && rs->rels[at]->oid == oid)
		return rs->rels[at];
	return NULL;
}
