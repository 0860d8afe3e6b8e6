/**
 * The compact progress view of `converge-playground instances`: one line of every group's
 * desired / actual / healthy / draining figures with its replacement breaker, leadership and
 * errors, read from the manager's status; and the test of "every group converged".
 */
import type { ManagerStatus } from "@converge/instance-manager"

/** The legend printed once above the progress lines. */
export const legend =
  "groups show desired/actual/healthy/draining; a group's breaker opens when its replacement budget is used up"

/** One line of the status, e.g. `api 3/4/3/1 · web 4/4/4/0 breaker OPEN · leader term 2 · errors 0`. */
export const progressLine = (status: ManagerStatus.ManagerStatus): string => {
  const groups = Object.values(status.groups)
    .filter((group) => !group.deleted)
    .sort((a, b) => a.group.localeCompare(b.group))
    .map(
      (group) =>
        `${group.group} ${group.desired}/${group.actual}/${group.healthy}/${group.draining}${group.breakerOpen ? " breaker OPEN" : ""}`
    )
  const leadership = status.leader ? `leader term ${status.term}` : "not leader"
  return [...groups, leadership, `errors ${status.errorsTotal}`].join(" · ")
}

/**
 * The manager leads, has reported every group of `keys`, and every group has its desired size,
 * all healthy, nothing draining, no breaker open.
 */
export const converged = (status: ManagerStatus.ManagerStatus, keys: ReadonlyArray<string>): boolean =>
  status.leader &&
  keys.every((key) => group(status, key) !== undefined) &&
  Object.values(status.groups).every(
    (group) =>
      group.deleted ||
      (group.actual === group.desired &&
        group.healthy === group.desired &&
        group.draining === 0 &&
        !group.breakerOpen)
  )

/** The figures of one group, if the manager has reported it. */
export const group = (
  status: ManagerStatus.ManagerStatus,
  key: string,
  tenant = "default"
): ManagerStatus.GroupStatus | undefined => status.groups[`${tenant}/${key}`]
