/* SPDX-License-Identifier: MIT */
/*
 * Fast JSON text for the wire (see ktbpf/json.h). Each direction has a fast
 * path for what the wire carries (objects, arrays, strings, integers,
 * literals) and hands anything else to jansson: a real number, a text the
 * fast parser refuses (jansson then writes the error message and position,
 * or parses what we did not expect), a value the fast writer cannot write.
 * So the fast paths may refuse more than jansson but never accept more or
 * build other values; jansson stays the authority on every odd case.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/json.h"

/* Decoding. */

struct dec {
	const unsigned char *p, *end;
	unsigned depth;
};

static json_t *dec_value(struct dec *d);

static void skip_ws(struct dec *d)
{
	while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t'))
		d->p++;
}

/*
 * Length of the valid UTF-8 sequence at p (at most end - p bytes), 0 when
 * invalid: no overlong forms, no surrogates, nothing above U+10FFFF
 * (jansson's utf8_check_full()).
 */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0], n, min;
	uint32_t v;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80, v = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800, v = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000, v = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (unsigned i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	return n;
}

static int hex4(const unsigned char *p, const unsigned char *end, uint32_t *ret)
{
	uint32_t v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	*ret = v;
	return 0;
}

static size_t put_utf8(char *o, uint32_t v)
{
	if (v < 0x80) {
		o[0] = (char)v;
		return 1;
	}
	if (v < 0x800) {
		o[0] = (char)(0xc0 | v >> 6);
		o[1] = (char)(0x80 | (v & 0x3f));
		return 2;
	}
	if (v < 0x10000) {
		o[0] = (char)(0xe0 | v >> 12);
		o[1] = (char)(0x80 | ((v >> 6) & 0x3f));
		o[2] = (char)(0x80 | (v & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | v >> 18);
	o[1] = (char)(0x80 | ((v >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((v >> 6) & 0x3f));
	o[3] = (char)(0x80 | (v & 0x3f));
	return 4;
}

/* One "\uXXXX" (or a surrogate pair) at d->p, just past the 'u'; 0 (U+0000) is refused. */
static int dec_escape_u(struct dec *d, uint32_t *ret)
{
	uint32_t v, lo;

	if (hex4(d->p, d->end, &v) < 0)
		return -1;
	d->p += 4;
	if (v >= 0xdc00 && v <= 0xdfff)
		return -1;
	if (v >= 0xd800 && v <= 0xdbff) {
		if (d->end - d->p < 6 || d->p[0] != '\\' || d->p[1] != 'u' ||
		    hex4(d->p + 2, d->end, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
			return -1;
		d->p += 6;
		v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (!v)
		return -1;
	*ret = v;
	return 0;
}

/*
 * The string at d->p (just past its '"'): *ret_s points into the input when
 * it has no escapes (*ret_buf NULL), else into *ret_buf (to free). Decoded
 * text is never longer than its escaped form.
 */
static int dec_string(struct dec *d, const char **ret_s, size_t *ret_len, char **ret_buf)
{
	const unsigned char *start = d->p;
	char *buf = NULL, *o = NULL;

	*ret_buf = NULL;
	while (d->p < d->end) {
		unsigned c;
		size_t n;

		/* The common case, a run of plain ASCII, in a tight loop (copied below when
		 * an escape started a copy). */
		if (!buf)
			while (d->p < d->end && (c = *d->p) >= 0x20 && c < 0x80 && c != '"' &&
			       c != '\\')
				d->p++;
		if (d->p == d->end)
			break;
		c = *d->p;
		if (c == '"') {
			if (buf) {
				*ret_s = buf;
				*ret_len = (size_t)(o - buf);
				*ret_buf = buf;
			} else {
				*ret_s = (const char *)start;
				*ret_len = (size_t)(d->p - start);
			}
			d->p++;
			return 0;
		}
		if (c < 0x20)
			goto fail;
		if (c == '\\') {
			uint32_t v;

			if (!buf) {
				buf = malloc((size_t)(d->end - start) + 1);
				if (!buf)
					return -1;
				memcpy(buf, start, (size_t)(d->p - start));
				o = buf + (d->p - start);
			}
			if (++d->p == d->end)
				goto fail;
			c = *d->p++;
			switch (c) {
			case '"':
			case '\\':
			case '/':
				*o++ = (char)c;
				break;
			case 'b':
				*o++ = '\b';
				break;
			case 'f':
				*o++ = '\f';
				break;
			case 'n':
				*o++ = '\n';
				break;
			case 'r':
				*o++ = '\r';
				break;
			case 't':
				*o++ = '\t';
				break;
			case 'u':
				if (dec_escape_u(d, &v) < 0)
					goto fail;
				o += put_utf8(o, v);
				break;
			default:
				goto fail;
			}
			continue;
		}
		n = c < 0x80 ? 1 : utf8_len(d->p, d->end);
		if (!n)
			goto fail;
		if (buf) {
			memcpy(o, d->p, n);
			o += n;
		}
		d->p += n;
	}
fail:
	free(buf);
	return -1;
}

/* An integer (no fraction, no exponent: a real goes to jansson) within int64. */
static json_t *dec_number(struct dec *d)
{
	bool neg = false;
	uint64_t v = 0, lim;

	if (*d->p == '-') {
		neg = true;
		d->p++;
	}
	if (d->p == d->end || *d->p < '0' || *d->p > '9')
		return NULL;
	if (*d->p == '0') {
		d->p++;
	} else {
		lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		while (d->p < d->end && *d->p >= '0' && *d->p <= '9') {
			unsigned digit = *d->p++ - '0';

			if (v > (lim - digit) / 10)
				return NULL;
			v = v * 10 + digit;
		}
	}
	if (d->p < d->end &&
	    (*d->p == '.' || *d->p == 'e' || *d->p == 'E' || (*d->p >= '0' && *d->p <= '9')))
		return NULL;
	if (neg)
		return json_integer(v ? (json_int_t)(0 - v) : 0);
	return json_integer((json_int_t)v);
}

static json_t *dec_literal(struct dec *d, const char *word, json_t *v)
{
	size_t n = strlen(word);

	if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n))
		return NULL;
	d->p += n;
	return v;
}

static json_t *dec_array(struct dec *d)
{
	json_t *a = json_array();

	if (!a)
		return NULL;
	skip_ws(d);
	if (d->p < d->end && *d->p == ']') {
		d->p++;
		return a;
	}
	for (;;) {
		json_t *v = dec_value(d);

		if (!v || json_array_append_new(a, v) < 0)
			break;
		skip_ws(d);
		if (d->p == d->end)
			break;
		if (*d->p == ']') {
			d->p++;
			return a;
		}
		if (*d->p++ != ',')
			break;
	}
	json_decref(a);
	return NULL;
}

static json_t *dec_object(struct dec *d)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	skip_ws(d);
	if (d->p < d->end && *d->p == '}') {
		d->p++;
		return o;
	}
	for (;;) {
		const char *key;
		size_t klen, n;
		char *kbuf;
		json_t *v;
		int r;

		if (d->p == d->end || *d->p++ != '"' || dec_string(d, &key, &klen, &kbuf) < 0)
			break;
		skip_ws(d);
		if (d->p == d->end || *d->p++ != ':') {
			free(kbuf);
			break;
		}
		v = dec_value(d);
		n = json_object_size(o);
		r = v ? json_object_setn_new_nocheck(o, key, klen, v) : -1;
		free(kbuf);
		/* A duplicate key replaced its value instead of adding one: refused
		 * (JSON_REJECT_DUPLICATES), one hash lookup per key instead of two. */
		if (r < 0 || json_object_size(o) == n)
			break;
		skip_ws(d);
		if (d->p == d->end)
			break;
		if (*d->p == '}') {
			d->p++;
			return o;
		}
		if (*d->p++ != ',')
			break;
		skip_ws(d);
	}
	json_decref(o);
	return NULL;
}

static json_t *dec_value(struct dec *d)
{
	json_t *v = NULL;

	skip_ws(d);
	if (d->p == d->end)
		return NULL;
	switch (*d->p) {
	case '{':
	case '[':
		if (d->depth >= KTBPF_JSON_MAX_DEPTH)
			return NULL;
		d->depth++;
		v = *d->p++ == '{' ? dec_object(d) : dec_array(d);
		d->depth--;
		return v;
	case '"': {
		const char *s;
		size_t len;
		char *buf;

		d->p++;
		if (dec_string(d, &s, &len, &buf) < 0)
			return NULL;
		v = json_stringn_nocheck(s, len);
		free(buf);
		return v;
	}
	case 't':
		return dec_literal(d, "true", json_true());
	case 'f':
		return dec_literal(d, "false", json_false());
	case 'n':
		return dec_literal(d, "null", json_null());
	default:
		return dec_number(d);
	}
}

json_t *ktbpf_json_decode(const char *buf, size_t len, json_error_t *err)
{
	struct dec d = {(const unsigned char *)buf, (const unsigned char *)buf + len, 0};
	json_t *v = dec_value(&d);

	if (v) {
		skip_ws(&d);
		if (d.p == d.end)
			return v;
		json_decref(v);
	}
	return json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, err);
}

/* Encoding. */

/* The writer is the encoder's state (see ktbpf/json.h). */
#define enc ktbpf_json_writer

/*
 * The first buffer is small: a request line is short, and an allocation of
 * 1 KiB or more makes glibc consolidate the fast bins a freed jansson tree
 * left (a fifth of the client's time per vm.snapshot when it was 4 KiB).
 */
static int reserve(struct enc *e, size_t n)
{
	size_t cap = e->cap ? e->cap : 256;
	char *b;

	if (e->cap - e->len > n)
		return 0;
	while (cap - e->len <= n) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	b = realloc(e->buf, cap);
	if (!b)
		return -1;
	e->buf = b;
	e->cap = cap;
	return 0;
}

static int put(struct enc *e, const char *s, size_t n)
{
	if (reserve(e, n) < 0)
		return -1;
	memcpy(e->buf + e->len, s, n);
	e->len += n;
	return 0;
}

/* A string as jansson writes it: '"', '\\' and controls escaped, the rest (valid UTF-8) as is. */
static int enc_string(struct enc *e, const char *str, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)str, *end = s + len;
	char *o;

	/* Every byte becomes at most 6 ("\u001F"), plus the quotes. */
	if (len > (SIZE_MAX - 2) / 6 || reserve(e, len * 6 + 2) < 0)
		return -1;
	o = e->buf + e->len;
	*o++ = '"';
	while (s < end) {
		const unsigned char *run = s;
		unsigned c;
		size_t n;

		/* A run of plain ASCII, copied at once. */
		while (s < end && (c = *s) >= 0x20 && c < 0x80 && c != '"' && c != '\\')
			s++;
		memcpy(o, run, (size_t)(s - run));
		o += s - run;
		if (s == end)
			break;
		c = *s;
		if (c >= 0x80) {
			n = utf8_len(s, end);
			if (!n)
				return -1;
			memcpy(o, s, n);
			o += n;
			s += n;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"':
		case '\\':
			*o++ = (char)c;
			break;
		case '\b':
			*o++ = 'b';
			break;
		case '\f':
			*o++ = 'f';
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[c >> 4];
			o[4] = hex[c & 15];
			o += 5;
		}
		s++;
	}
	*o++ = '"';
	e->len = (size_t)(o - e->buf);
	return 0;
}

static int enc_integer(struct enc *e, json_int_t i)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t v = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (i < 0)
		*--p = '-';
	return put(e, p, (size_t)(tmp + sizeof(tmp) - p));
}

static int enc_value(struct enc *e, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *sep = "{";
		const char *k;
		size_t klen;
		json_t *m;

		if (++e->depth > KTBPF_JSON_MAX_DEPTH)
			return -1;
		json_object_keylen_foreach((json_t *)v, k, klen, m)
		{
			if (put(e, sep, 1) < 0 || enc_string(e, k, klen) < 0 ||
			    put(e, ":", 1) < 0 || enc_value(e, m) < 0)
				return -1;
			sep = ",";
		}
		e->depth--;
		return *sep == '{' ? put(e, "{}", 2) : put(e, "}", 1);
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(v);

		if (++e->depth > KTBPF_JSON_MAX_DEPTH || put(e, "[", 1) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			if ((i && put(e, ",", 1) < 0) || enc_value(e, json_array_get(v, i)) < 0)
				return -1;
		e->depth--;
		return put(e, "]", 1);
	}
	case JSON_STRING:
		return enc_string(e, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return enc_integer(e, json_integer_value(v));
	case JSON_TRUE:
		return put(e, "true", 4);
	case JSON_FALSE:
		return put(e, "false", 5);
	case JSON_NULL:
		return put(e, "null", 4);
	default:
		return -1; /* a real: jansson's digits */
	}
}

/* A value begins: the separator the last one needs, if any. */
static bool w_open(struct ktbpf_json_writer *w)
{
	if (w->failed)
		return false;
	if (w->sep && put(w, ",", 1) < 0)
		return (w->failed = true, false);
	w->sep = true;
	return true;
}

static void w_check(struct ktbpf_json_writer *w, int r)
{
	if (r < 0)
		w->failed = true;
}

void ktbpf_json_w_object(struct ktbpf_json_writer *w)
{
	if (w_open(w))
		w_check(w, put(w, "{", 1));
	w->sep = false;
}

void ktbpf_json_w_array(struct ktbpf_json_writer *w)
{
	if (w_open(w))
		w_check(w, put(w, "[", 1));
	w->sep = false;
}

void ktbpf_json_w_end_object(struct ktbpf_json_writer *w)
{
	if (!w->failed)
		w_check(w, put(w, "}", 1));
	w->sep = true;
}

void ktbpf_json_w_end_array(struct ktbpf_json_writer *w)
{
	if (!w->failed)
		w_check(w, put(w, "]", 1));
	w->sep = true;
}

void ktbpf_json_w_key(struct ktbpf_json_writer *w, const char *key)
{
	size_t n = 0;

	if (!w_open(w)) {
		w->sep = false;
		return;
	}
	/* Our keys are plain ASCII: copied as they are (else as any string). */
	while (key[n] >= 0x20 && key[n] < 0x7f && key[n] != '"' && key[n] != '\\')
		n++;
	if (key[n] || reserve(w, n + 3) < 0) {
		w_check(w, enc_string(w, key, strlen(key)) < 0 ? -1 : put(w, ":", 1));
	} else {
		w->buf[w->len] = '"';
		memcpy(w->buf + w->len + 1, key, n);
		memcpy(w->buf + w->len + 1 + n, "\":", 2);
		w->len += n + 3;
	}
	w->sep = false;
}

void ktbpf_json_w_string(struct ktbpf_json_writer *w, const char *s, size_t len)
{
	if (w_open(w))
		w_check(w, enc_string(w, s, len));
}

bool ktbpf_json_w_try_string(struct ktbpf_json_writer *w, const char *s, size_t len)
{
	bool sep = w->sep;
	size_t at = w->len;

	if (!w_open(w))
		return true;
	if (enc_string(w, s, len) == 0)
		return true;
	/* Not UTF-8 (or no memory): as it was, for the caller's second try. */
	w->len = at;
	w->sep = sep;
	return false;
}

void ktbpf_json_w_int(struct ktbpf_json_writer *w, json_int_t i)
{
	if (w_open(w))
		w_check(w, enc_integer(w, i));
}

void ktbpf_json_w_bool(struct ktbpf_json_writer *w, bool b)
{
	if (w_open(w))
		w_check(w, b ? put(w, "true", 4) : put(w, "false", 5));
}

void ktbpf_json_w_null(struct ktbpf_json_writer *w)
{
	if (w_open(w))
		w_check(w, put(w, "null", 4));
}

void ktbpf_json_w_value(struct ktbpf_json_writer *w, const json_t *v)
{
	char *s;
	size_t len, at;

	if (!v) {
		w->failed = true;
		return;
	}
	if (!w_open(w))
		return;
	at = w->len;
	w->depth = 0;
	if (enc_value(w, v) == 0)
		return;
	/* What the fast writer cannot write (a real): jansson's text. */
	w->len = at;
	s = ktbpf_json_encode(v, &len);
	w_check(w, s ? put(w, s, len) : -1);
	free(s);
}

void ktbpf_json_w_raw(struct ktbpf_json_writer *w, const char *text, size_t len)
{
	if (w_open(w))
		w_check(w, put(w, text, len));
}

char *ktbpf_json_w_finish(struct ktbpf_json_writer *w, size_t *ret_len)
{
	char *s = w->buf;

	if (!w->failed && put(w, "", 1) == 0) {
		if (ret_len)
			*ret_len = w->len - 1;
		*w = (struct ktbpf_json_writer){0};
		return s;
	}
	free(w->buf);
	*w = (struct ktbpf_json_writer){0};
	return NULL;
}

char *ktbpf_json_encode(const json_t *v, size_t *ret_len)
{
	struct enc e = {0};
	char *s;

	if (v && enc_value(&e, v) == 0 && put(&e, "", 1) == 0) {
		if (ret_len)
			*ret_len = e.len - 1;
		return e.buf;
	}
	free(e.buf);
	s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (s && ret_len)
		*ret_len = strlen(s);
	return s;
}
