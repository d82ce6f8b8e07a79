// Scratch: tracks the intermediate tensors of one model stage so the stage can free everything but what it
// returns (reshape views are refcounted, so releasing a view never frees a kept tensor's buffer).

import type { Tensor } from '../tensor.js';

export class Scratch {
  private list: Tensor[] = [];

  /** Registers x for release and returns it. */
  t<T extends Tensor>(x: T): T {
    this.list.push(x);
    return x;
  }

  /** Disposes every registered tensor except `keep`. */
  release(...keep: Tensor[]): void {
    for (const x of this.list) if (!keep.includes(x)) x.dispose();
    this.list = [];
  }
}
