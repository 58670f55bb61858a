/** A phase as stored: environments by id. `minSuccessful` null means all of them. */
export interface Phase {
  name: string;
  environmentIds: string[];
  minSuccessful: number | null;
  optional: boolean;
  autoDeployEnvironmentIds: string[];
}

export interface NamedEnvironment {
  id: string;
  name: string;
}

export interface PhaseProgress {
  name: string;
  environments: (NamedEnvironment & { deployed: boolean })[];
  /** How many of its environments need a successful deployment for the phase to be complete. */
  needed: number;
  optional: boolean;
  /** A release may be deployed to its environments. */
  open: boolean;
  complete: boolean;
}

export interface LifecycleProgress {
  phases: PhaseProgress[];
  /** Environments the release may be deployed to now, in phase order. */
  allowed: string[];
  /** Allowed environments it has not been deployed to yet: where it would be promoted. */
  next: string[];
}

/**
 * The phases a lifecycle really has: its own, or (with none) one phase per environment, in the
 * organisation's order: the default lifecycle.
 */
export function effectivePhases(phases: Phase[], environments: NamedEnvironment[]): Phase[] {
  if (phases.length) return phases;
  return environments.map((e) => ({ name: e.name, environmentIds: [e.id], minSuccessful: null, optional: false, autoDeployEnvironmentIds: [] }));
}

/**
 * Where a release stands in its lifecycle, given the environments it has a successful deployment
 * in. Phase 1 is always open; phase N opens once every phase before it is complete (enough of its
 * environments succeeded) or optional.
 */
export function lifecycleProgress(phases: Phase[], environments: NamedEnvironment[], succeededIn: ReadonlySet<string>): LifecycleProgress {
  const byId = new Map(environments.map((e) => [e.id, e]));
  let open = true;
  const progress = effectivePhases(phases, environments).map((phase): PhaseProgress => {
    const envs = phase.environmentIds.flatMap((id) => {
      const env = byId.get(id);
      return env ? [{ ...env, deployed: succeededIn.has(id) }] : [];
    });
    const needed = Math.min(phase.minSuccessful ?? envs.length, envs.length);
    const complete = envs.filter((e) => e.deployed).length >= needed;
    const p = { name: phase.name, environments: envs, needed, optional: phase.optional, open, complete };
    open = open && (complete || phase.optional);
    return p;
  });
  const allowed = progress.filter((p) => p.open).flatMap((p) => p.environments.map((e) => e.id));
  return { phases: progress, allowed, next: allowed.filter((id) => !succeededIn.has(id)) };
}

/** Why the release may not go to `environmentId` now, in words a user can act on; null when it may. */
export function refusal(progress: LifecycleProgress, environmentId: string, lifecycleName: string): string | null {
  if (progress.allowed.includes(environmentId)) return null;
  const at = progress.phases.findIndex((p) => p.environments.some((e) => e.id === environmentId));
  if (at < 0) return `the lifecycle "${lifecycleName}" has no phase with this environment; add it to a phase, or use another lifecycle`;
  const env = progress.phases[at].environments.find((e) => e.id === environmentId)!;
  const blocking = progress.phases.slice(0, at).find((p) => !p.complete && !p.optional)!;
  const missing = blocking.environments.filter((e) => !e.deployed).map((e) => e.name);
  const need = blocking.needed === blocking.environments.length ? `${missing.join(', ')}` : `${blocking.needed - (blocking.environments.length - missing.length)} more of ${missing.join(', ')}`;
  return `deploy this release to ${need} first: ${env.name} is in phase "${progress.phases[at].name}", which opens once phase "${blocking.name}" is complete`;
}

/** Environments whose phase just opened because of a success in `environmentId`, and that want an automatic deployment. */
export function autoDeployOnSuccess(phases: Phase[], environments: NamedEnvironment[], succeededBefore: ReadonlySet<string>, environmentId: string): string[] {
  const before = lifecycleProgress(phases, environments, succeededBefore);
  const after = lifecycleProgress(phases, environments, new Set([...succeededBefore, environmentId]));
  const effective = effectivePhases(phases, environments);
  return after.phases.flatMap((p, i) => (p.open && !before.phases[i].open ? effective[i].autoDeployEnvironmentIds.filter((id) => !succeededBefore.has(id)) : []));
}
