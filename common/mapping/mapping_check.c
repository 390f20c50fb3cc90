/*
 * mapping_check.c - cross-checks that need a whole table, collection or
 * file, run by the walk in mapping_parse.c once the structs are filled.
 *
 * Invariants checked (see mapping.h): no column takes a reserved name; index
 * columns exist; within one table no source path is a segment-wise prefix
 * of another (a field is mapped once); every table name is used once in the
 * whole file.  Each check only reports (through mapping_lerr_at); none
 * changes the mapping.
 */
#include <stdlib.h>
#include <string.h>

#include "mapping_internal.h"

/* Segment-wise: "a" is a prefix of "a.b" and of "a", not of "ab". */
static bool path_prefix(const char *a, const char *b)
{
	size_t n = strlen(a);

	return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '.');
}

/* One (source, owner) pair per field that the table takes out of the document. */
struct source_ref {
	const char *source;
	const char *owner;
	size_t line;
};

static void check_sources(struct loader *L, const struct where *w, const struct source_ref *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(s[i].owner, s[j].owner) && /* same name: reported as a duplicate */
			    (path_prefix(s[j].source, s[i].source) || path_prefix(s[i].source, s[j].source)))
				mapping_lerr_at(L, s[i].line, w, "'%s' (source '%s') overlaps '%s' (source '%s'): "
						"a field may be mapped once", s[i].owner, s[i].source, s[j].owner, s[j].source);
}

void mapping_check_reserved(struct loader *L, const struct where *w0, const struct mapping_column *cols,
			    size_t n, const char *const *reserved)
{
	for (size_t i = 0; i < n; i++)
		for (size_t r = 0; reserved[r]; r++)
			if (!strcmp(cols[i].name, reserved[r])) {
				struct where w = *w0;
				w.col = cols[i].name;
				mapping_lerr_at(L, cols[i].line, &w, "the name is reserved for a column tandem adds");
			}
}

static bool has_column(const struct mapping_column *cols, size_t n, const char *name,
		       const char *const *reserved)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(cols[i].name, name))
			return true;
	for (size_t r = 0; reserved[r]; r++)
		if (!strcmp(reserved[r], name))
			return true;
	return false;
}

void mapping_check_index_columns(struct loader *L, const struct where *w, const struct mapping_index *ix,
				 size_t n_ix, const struct mapping_column *cols, size_t n_cols,
				 const char *const *reserved)
{
	for (size_t i = 0; i < n_ix; i++)
		for (size_t c = 0; c < ix[i].n_columns; c++)
			if (!has_column(cols, n_cols, ix[i].columns[c], reserved)) {
				mapping_lerr_at(L, ix[i].line, w, "index names unknown column '%s'", ix[i].columns[c]);
			}
}

/* The columns of one child table take each field once. */
void mapping_check_child_sources(struct loader *L, const struct where *w, const struct mapping_child *ch)
{
	struct source_ref *refs = mapping_xcalloc(ch->n_columns, sizeof(*refs));
	for (size_t i = 0; i < ch->n_columns; i++)
		refs[i] = (struct source_ref){ch->columns[i].source, ch->columns[i].name,
					      ch->columns[i].line};
	check_sources(L, w, refs, ch->n_columns);
	free(refs);
}

/* Every source the collection's own table and its children/junctions take. */
void mapping_check_collection_sources(struct loader *L, const struct where *w, const struct mapping_collection *c)
{
	size_t n = c->n_columns + c->n_children + c->n_junctions, k = 0;
	struct source_ref *refs = mapping_xcalloc(n, sizeof(*refs));

	for (size_t i = 0; i < c->n_columns; i++)
		refs[k++] = (struct source_ref){c->columns[i].source, c->columns[i].name, c->columns[i].line};
	for (size_t i = 0; i < c->n_children; i++)
		refs[k++] = (struct source_ref){c->children[i].source, c->children[i].name, c->children[i].line};
	for (size_t i = 0; i < c->n_junctions; i++)
		refs[k++] = (struct source_ref){c->junctions[i].source, c->junctions[i].name,
						c->junctions[i].line};
	check_sources(L, w, refs, k);
	free(refs);
}

/* Every table name (collections, children, junctions) appears once. */
void mapping_check_tables(struct loader *L, const struct mapping *m)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < m->n_collections; i++)
		n += 1 + m->collections[i].n_children + m->collections[i].n_junctions;
	struct source_ref *t = mapping_xcalloc(n, sizeof(*t)); /* source = table, owner = collection */
	for (size_t i = 0; i < m->n_collections; i++) {
		const struct mapping_collection *c = &m->collections[i];
		t[k++] = (struct source_ref){c->table, c->name, c->line};
		for (size_t j = 0; j < c->n_children; j++)
			t[k++] = (struct source_ref){c->children[j].table, c->name, c->children[j].line};
		for (size_t j = 0; j < c->n_junctions; j++)
			t[k++] = (struct source_ref){c->junctions[j].table, c->name, c->junctions[j].line};
	}
	for (size_t i = 0; i < k; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(t[i].source, t[j].source)) {
				struct where w = {.coll = t[i].owner};
				mapping_lerr_at(L, t[i].line, &w, "table '%s' is already used (line %zu)",
						t[i].source, t[j].line);
				break;
			}
	free(t);
}
