// How many stored rows one request may read. A budget is counted down where rows are
// read (fold-rows.ts, and each engine's range reads) and the request refused once it is
// spent, so a range too long for its resolution fails fast instead of holding the reader.

/** Rows one request may read, counted down as they are; see RangeTooLarge. */
export interface ReadBudget {
  rows: number;
  /** What the budget was, for the refusal's message. */
  limit?: number;
}

/** A request would read more rows than its budget: it is refused, not served slowly. */
export class RangeTooLarge extends Error {
  readonly statusCode = 422;
  constructor(limit: number) {
    super(
      `this range needs more than ${limit} stored rows at its resolution; ask for a shorter range or a coarser step`,
    );
    this.name = 'RangeTooLarge';
  }
}

export function spend(budget: ReadBudget | undefined, rows = 1): void {
  if (budget === undefined) return;
  budget.rows -= rows;
  if (budget.rows < 0) throw new RangeTooLarge(budget.limit ?? 0);
}
