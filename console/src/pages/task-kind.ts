import type { Task, TaskKind } from '../api/types';

const KIND_LABELS: Record<TaskKind, string> = { script: 'script', deployment: 'deployment', 'health-check': 'health check' };

/** What a task runs, in words: "bash script", "health check". */
export function describeTaskKind(task: Pick<Task, 'kind' | 'script'>): string {
  if (task.script) return `${task.script.syntax} script`;
  // A control plane newer than this console may send a kind it has no label for yet.
  return KIND_LABELS[task.kind as TaskKind] ?? String(task.kind).replace(/-/g, ' ');
}
