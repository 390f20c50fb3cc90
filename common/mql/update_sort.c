/*
 * update_sort.c - $push's $sort, ordered exactly as MongoDB orders it.
 *
 * MongoDB sorts the array with std::sort (mutablebson::sortChildren), which
 * is not stable: elements that compare equal end up in an order fixed by
 * the algorithm.  Linux builds of the server use libstdc++, so this file
 * reproduces libstdc++'s std::sort step by step (introsort: median-of-three
 * pivot, unguarded partition, heapsort past 2*log2(n) levels, then the
 * final insertion sort; runs of up to 16 elements are only insertion-sorted,
 * which is stable).  Same comparisons in the same sequence, same result.
 */
#include "update_internal.h"

#define SORT_THRESHOLD 16

struct sorter {
	update_less_fn less;
	const void *ctx;
};

static bool lt(const struct sorter *s, const struct unode *a, const struct unode *b)
{
	return s->less(s->ctx, a, b);
}

static void swap_nodes(struct unode *a, struct unode *b)
{
	struct unode t = *a;

	*a = *b;
	*b = t;
}

static void push_heap(const struct sorter *s, struct unode *first, size_t hole, size_t top,
		      struct unode value)
{
	size_t parent = hole ? (hole - 1) / 2 : 0;

	while (hole > top && lt(s, &first[parent], &value)) {
		first[hole] = first[parent];
		hole = parent;
		parent = hole ? (hole - 1) / 2 : 0;
	}
	first[hole] = value;
}

static void adjust_heap(const struct sorter *s, struct unode *first, size_t hole, size_t len,
			struct unode value)
{
	size_t top = hole, child = hole;

	while (len > 0 && child < (len - 1) / 2) {
		child = 2 * (child + 1);
		if (lt(s, &first[child], &first[child - 1]))
			child--;
		first[hole] = first[child];
		hole = child;
	}
	if ((len & 1) == 0 && len >= 2 && child == (len - 2) / 2) {
		child = 2 * (child + 1);
		first[hole] = first[child - 1];
		hole = child - 1;
	}
	push_heap(s, first, hole, top, value);
}

/* std::__partial_sort(first, last, last): make_heap then sort_heap. */
static void heap_sort(const struct sorter *s, struct unode *first, size_t len)
{
	if (len >= 2) {
		for (size_t parent = (len - 2) / 2;; parent--) {
			adjust_heap(s, first, parent, len, first[parent]);
			if (parent == 0)
				break;
		}
	}
	while (len > 1) {
		struct unode value;

		len--;
		value = first[len];
		first[len] = first[0];
		adjust_heap(s, first, 0, len, value);
	}
}

static void move_median_to_first(const struct sorter *s, struct unode *result, struct unode *a,
				 struct unode *b, struct unode *c)
{
	if (lt(s, a, b)) {
		if (lt(s, b, c))
			swap_nodes(result, b);
		else if (lt(s, a, c))
			swap_nodes(result, c);
		else
			swap_nodes(result, a);
	} else if (lt(s, a, c)) {
		swap_nodes(result, a);
	} else if (lt(s, b, c)) {
		swap_nodes(result, c);
	} else {
		swap_nodes(result, b);
	}
}

static struct unode *partition_pivot(const struct sorter *s, struct unode *first, struct unode *last)
{
	struct unode *mid = first + (last - first) / 2, *pivot = first;

	move_median_to_first(s, first, first + 1, mid, last - 1);
	first++;
	for (;;) {
		while (lt(s, first, pivot))
			first++;
		last--;
		while (lt(s, pivot, last))
			last--;
		if (!(first < last))
			return first;
		swap_nodes(first, last);
		first++;
	}
}

static void introsort_loop(const struct sorter *s, struct unode *first, struct unode *last, int depth)
{
	while (last - first > SORT_THRESHOLD) {
		struct unode *cut;

		if (depth == 0) {
			heap_sort(s, first, (size_t)(last - first));
			return;
		}
		depth--;
		cut = partition_pivot(s, first, last);
		introsort_loop(s, cut, last, depth);
		last = cut;
	}
}

static void linear_insert(const struct sorter *s, struct unode *last)
{
	struct unode value = *last, *next = last - 1;

	while (lt(s, &value, next)) {
		*last = *next;
		last = next--;
	}
	*last = value;
}

static void insertion_sort(const struct sorter *s, struct unode *first, struct unode *last)
{
	if (first == last)
		return;
	for (struct unode *i = first + 1; i != last; i++) {
		if (lt(s, i, first)) {
			struct unode value = *i;

			for (struct unode *p = i; p != first; p--)
				p[0] = p[-1];
			*first = value;
		} else {
			linear_insert(s, i);
		}
	}
}

/* std::sort(a, a + n, less) as libstdc++ implements it. */
void update_sort_nodes(struct unode *a, size_t n, update_less_fn less, const void *ctx)
{
	struct sorter s = {less, ctx};
	int lg = 0;

	if (n < 2)
		return;
	for (size_t k = n; k > 1; k >>= 1)
		lg++;
	introsort_loop(&s, a, a + n, 2 * lg);
	if (n > SORT_THRESHOLD) {
		insertion_sort(&s, a, a + SORT_THRESHOLD);
		for (struct unode *i = a + SORT_THRESHOLD; i != a + n; i++)
			linear_insert(&s, i);
	} else {
		insertion_sort(&s, a, a + n);
	}
}
