// The signature policy laid over a plan: each job carries the rule that covers its image, so that the sync verifies it
// before anything is copied, and the plan's report says which rule applies. Pure.
import type { MirrorResult } from '../ports.ts';
import type { Plan } from './plan.ts';
import { ruleFor, type SignaturePolicy, type VerifyRule } from './policy.ts';
import type { Report } from './report.ts';

/** The plan with `verify` set on each job a rule of the policy covers (the first whose pattern matches); as it is without a policy. */
export function applyPolicy(plan: Plan, policy: SignaturePolicy | undefined): Plan {
  if (policy === undefined) return plan;
  return {
    ...plan,
    jobs: plan.jobs.map((job) => {
      const rule = ruleFor(policy, job.source);
      return rule === undefined ? job : { ...job, verify: rule };
    }),
  };
}

/** A rule as a result line names it: by name, with how it verifies; never its key or trust root. */
export function ruleNote(rule: VerifyRule): NonNullable<MirrorResult['rule']> {
  return { name: rule.name, by: rule.by };
}

/**
 * A plan's report with the rule of each job on its result line. `report` must be the plan's own (planReport(plan)),
 * whose results are its jobs in order.
 */
export function withRules(report: Report, plan: Plan): Report {
  if (!plan.jobs.some((job) => job.verify !== undefined)) return report;
  return {
    ...report,
    results: report.results.map((result, i) => {
      const rule = plan.jobs[i]?.verify;
      return rule === undefined ? result : { ...result, rule: ruleNote(rule) };
    }),
  };
}
