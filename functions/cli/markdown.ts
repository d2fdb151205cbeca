// Markdown for GitHub (a pull request's comment, a job's step summary): what comes from outside is escaped here, once.

/** A code span that survives a table cell: GitHub needs "|" escaped even inside code. */
export function code(text: string): string {
  // A fence longer than any run of backticks inside, so that none of them can end the span early.
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = longest > 0 ? ' ' : '';
  return `${fence}${pad}${text.replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ')}${pad}${fence}`;
}

/** Text inside an HTML element or attribute: no markup, no @mentions, no line breaks, no "|" ending a cell. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/\|/g, '&#124;')
    .replace(/@/g, '@\u200b')
    .replace(/[\r\n]+/g, ' ');
}

/** Text from outside (Dockerfiles, registries' answers) in markdown: no HTML, no markdown, no @mentions, no line breaks. */
export function escapeText(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]|#~!])/g, '\\$1')
    .replace(/@/g, '@\u200b')
    .replace(/[\r\n]+/g, ' ');
}

/**
 * At most `max` rows of `items`, then one row saying how many more there are (`more` words it, a table row by default):
 * GitHub caps a comment at 65536 characters and a step summary at 1 MiB; the JSON report always has them all.
 */
export function limitRows<T>(items: readonly T[], max: number, row: (item: T) => string, more: (count: number) => string = (count) => `| … and ${count} more (see \`--format json\`) |`): string[] {
  const rows = items.slice(0, max).map(row);
  if (items.length > max) rows.push(more(items.length - max));
  return rows;
}
