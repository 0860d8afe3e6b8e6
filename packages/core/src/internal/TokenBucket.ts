/**
 * A token bucket with reservations, like Go's `rate.Limiter.Reserve`: each call takes a token now
 * and returns how long the caller must wait for it (0 while the burst lasts).
 */
export class TokenBucket {
  private tokens: number
  private lastMillis: number | undefined

  constructor(
    private readonly perSecond: number,
    private readonly burst: number
  ) {
    this.tokens = burst
  }

  reserve(nowMillis: number): number {
    if (this.lastMillis !== undefined && nowMillis > this.lastMillis) {
      this.tokens = Math.min(
        this.burst,
        this.tokens + ((nowMillis - this.lastMillis) * this.perSecond) / 1000
      )
    }
    this.lastMillis = Math.max(nowMillis, this.lastMillis ?? nowMillis)
    this.tokens -= 1
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.perSecond
  }
}
