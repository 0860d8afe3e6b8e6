/** A binary min-heap ordered by a comparator; O(log n) push and pop, O(1) peek. */
export class MinHeap<A> {
  private readonly items: Array<A> = []

  constructor(private readonly before: (a: A, b: A) => boolean) {}

  get size(): number {
    return this.items.length
  }

  peek(): A | undefined {
    return this.items[0]
  }

  push(item: A): void {
    const items = this.items
    let index = items.length
    items.push(item)
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = items[parentIndex]!
      if (!this.before(item, parent)) break
      items[index] = parent
      index = parentIndex
    }
    items[index] = item
  }

  pop(): A | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined || items.length === 0) return top
    const length = items.length
    let index = 0
    while (true) {
      const left = 2 * index + 1
      if (left >= length) break
      const right = left + 1
      let child = left
      if (right < length && this.before(items[right]!, items[left]!)) child = right
      if (!this.before(items[child]!, last)) break
      items[index] = items[child]!
      index = child
    }
    items[index] = last
    return top
  }

  clear(): void {
    this.items.length = 0
  }
}
