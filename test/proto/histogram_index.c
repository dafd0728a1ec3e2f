/* Prints tg_hist_index() of each value read from stdin, one per line: the C half of
 * test/proto/histogram-agreement.test.ts. */
#include <stdio.h>
#include "histogram.h"

int main(void)
{
	unsigned long long value;

	while (scanf("%llu", &value) == 1)
		printf("%u\n", tg_hist_index(value));
	return 0;
}
