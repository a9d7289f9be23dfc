/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_VARS_H
#define KTBPF_VARS_H

/*
 * A BPF object's variables by name, read from guest RAM: its global-section
 * maps (<obj>.bss, .data, .rodata, .data.*, .bss.*: BPF_MAP_TYPE_ARRAY maps
 * whose value type is a BTF DATASEC) and its per-CPU arrays
 * (BPF_MAP_TYPE_PERCPU_ARRAY), decoded with the object's own BTF as the
 * kernel keeps it (bpf_map->btf -> struct btf's raw blob, parsed with
 * libbpf; the DATASEC named by bpf_map->btf_value_type_id, whose entries
 * give each variable's name, offset and size).
 *
 * An object's maps are the used_maps of its programs: those of the struct_ops
 * instances whose object it is (structops.c names it from its programs'
 * global-section maps), so a snapshot walked by ktbpf_progs_walk() is the
 * input.
 *
 * The result is a flat tree of nodes in pre-order: a node with children
 * (struct, union, array, per-CPU element) is followed by its nr_children
 * direct children, each followed by its own subtree. Integers
 * (signed/unsigned, 1..8 bytes, bitfields), bools, enums by enumerator name,
 * floats, char arrays as strings, pointers as addresses, structs, unions and
 * arrays nested. Per-CPU arrays give, per element, a "sum" subtree (integer
 * leaves summed over the possible CPUs, other leaves KTBPF_VAR_NOSUM) and
 * one subtree per possible CPU.
 *
 * Guest data is hostile: the BTF blob, a map's value and its entries are
 * read with bounds (KTBPF_VARS_MAX_*), the BTF is parsed and every type
 * walk is bounded in depth and modifier hops, every read of a value lies
 * inside it (a DATASEC entry beyond the value becomes a KTBPF_VAR_ERROR
 * node saying so), arrays past KTBPF_VARS_MAX_ELEMS elements and trees past
 * KTBPF_VARS_MAX_NODES nodes are cut with a diagnostic. A map that cannot
 * be read or decoded keeps its entry with error and msg set.
 *
 * Thread safety: a struct ktbpf_vars is immutable once returned; reading
 * uses the snapshot's translator, so one snapshot is one thread's at a time
 * (as for ktbpf_progs_walk()).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktbpf/err.h"
#include "ktbpf/kernel.h"
#include "ktbpf/progs.h"

#define KTBPF_BPF_MAP_TYPE_ARRAY	2
#define KTBPF_BPF_MAP_TYPE_PERCPU_ARRAY 6

#define KTBPF_VARS_MAX_MAPS    64	   /* maps of one object */
#define KTBPF_VARS_MAX_BTF     (16u << 20) /* bytes of an object's BTF blob */
#define KTBPF_VARS_MAX_VALUE   (4u << 20)  /* bytes of one map value read */
#define KTBPF_VARS_MAX_ENTRIES 64	   /* per-CPU array elements read */
#define KTBPF_VARS_MAX_ELEMS   1024	   /* array elements rendered (char arrays: bytes) */
#define KTBPF_VARS_MAX_DEPTH   16	   /* nesting of structs and arrays */
#define KTBPF_VARS_MAX_NODES   (1u << 18)  /* nodes of one result */

enum ktbpf_var_kind {
	KTBPF_VAR_INT,	  /* signed integer: i */
	KTBPF_VAR_UINT,	  /* unsigned integer: u */
	KTBPF_VAR_BOOL,	  /* u is 0 or 1 (any other byte value is an UINT) */
	KTBPF_VAR_ENUM,	  /* i (u for an unsigned enum), str: enumerator or NULL */
	KTBPF_VAR_FLOAT,  /* f */
	KTBPF_VAR_STRING, /* a char array: str, up to its first NUL, escaped (below) */
	KTBPF_VAR_PTR,	  /* u: the address */
	KTBPF_VAR_STRUCT, /* children: its members */
	KTBPF_VAR_UNION,  /* children: its members */
	KTBPF_VAR_ARRAY,  /* children: its elements (index) */
	KTBPF_VAR_PERCPU, /* a per-CPU array element (index): "sum", then "cpu" nodes */
	KTBPF_VAR_NOSUM,  /* in a "sum" subtree: a leaf that is not summed */
	KTBPF_VAR_ERROR,  /* str: why the value is not shown */
};

/*
 * One node. name is a variable's or member's name ("" for anonymous
 * members, array elements and per-CPU nodes), "sum" or "cpu" for the
 * children of a KTBPF_VAR_PERCPU node (index: the CPU number for "cpu").
 * type is its C spelling ("u64", "struct stats", "char[16]", "int *").
 * Strings are owned by the struct ktbpf_vars. Strings (KTBPF_VAR_STRING)
 * keep printable ASCII, write '\\' as "\\\\" and other bytes as "\\xNN".
 */
struct ktbpf_var {
	enum ktbpf_var_kind kind;
	uint32_t depth;	      /* 0: a variable or per-CPU element */
	uint32_t nr_children; /* direct children, which follow */
	uint32_t index;	      /* array element / per-CPU element / CPU number */
	uint32_t bits;	      /* integer width in bits (bitfields: their width) */
	const char *name;
	const char *type;
	int64_t i;
	uint64_t u;
	double f;
	const char *str;
};

/* One map of the object. */
struct ktbpf_vars_map {
	uint32_t id;
	uint64_t kva;
	char name[KTBPF_OBJ_NAME_LEN + 1];
	char section[64]; /* the DATASEC's name (".bss"); "" for a per-CPU array */
	uint32_t map_type;
	uint32_t value_size, max_entries;
	uint32_t nr_cpus; /* per-CPU arrays: CPUs read */
	size_t first, nr; /* its depth-0 nodes' subtrees: nodes [first, first + nr) */
	int error;	  /* 0, or why nothing (or not all) was decoded: */
	char msg[160];
};

struct ktbpf_vars {
	char obj[KTBPF_OBJ_NAME_LEN + 1];
	struct ktbpf_vars_map *maps;
	size_t nr_maps;
	struct ktbpf_var *nodes;
	size_t nr_nodes;
	bool capped; /* a bound was hit: see diags */
	struct ktbpf_diag diags[KTBPF_MAX_DIAGS];
	size_t nr_diags, diags_dropped;
	struct vars_priv *priv; /* private: string storage, BTF kept for names */
};

/* Which maps to read. */
struct ktbpf_vars_query {
	/*
	 * The object by name ("ktbpf_scx"), as ktbpf_st_instance.obj_name says;
	 * NULL or "": the active object (s->active.obj_name).
	 */
	const char *obj;
	/* Or exactly these map ids (of any object); obj is then ignored. */
	const uint32_t *map_ids;
	size_t nr_map_ids;
};

/*
 * Read the variables of the object (or maps) q names (NULL: the active
 * object) from the guest, with the kernel k and the snapshot s that
 * ktbpf_progs_walk() filled from it (its translator is used). *ret is owned
 * by the caller: ktbpf_vars_free(). Errors: -ENOENT no such object (or
 * nothing active) or map id, -EOPNOTSUPP the kernel's BTF lacks the
 * layouts (struct bpf_array, struct btf's data), -ENOMEM. Maps that cannot
 * be read or decoded are in the result with their error.
 */
int ktbpf_vars_read(const struct ktbpf_kernel *k, struct ktbpf_snapshot *s,
		    const struct ktbpf_vars_query *q, struct ktbpf_vars **ret,
		    struct ktbpf_err *err);

struct ktbpf_vars *ktbpf_vars_free(struct ktbpf_vars *v);

/*
 * Decode one value with BTF given as raw bytes (the fuzz target and tests
 * use it): the blob is parsed as ktbpf_vars_read() parses a guest's; type_id
 * a DATASEC (each variable a depth-0 node) or any other type (one node).
 * bufs: nr_bufs buffers of len bytes (more than one, at most 8: per-CPU
 * values, giving one KTBPF_VAR_PERCPU node with index 0 and cpus numbered
 * 0..nr_bufs-1). Errors: -EINVAL the BTF does not parse or type_id is not
 * in it, or nr_bufs is 0 or over 8 (message says why), -ENOMEM. *ret as
 * above.
 */
int ktbpf_vars_decode(const void *btf_data, size_t btf_size, uint32_t type_id,
		      const void *const *bufs, size_t nr_bufs, size_t len, struct ktbpf_vars **ret,
		      struct ktbpf_err *err);

/* "int", "uint", "bool", "enum", "float", "string", "ptr", "struct", "union", "array",
 * "percpu", "nosum", "error". */
const char *ktbpf_var_kind_name(enum ktbpf_var_kind k);

#endif
