/**
 * Partial selection: the k largest entries of a Float32Array without sorting all of it (a bounded
 * min-heap, O(n log k)). Ties go to the lower index, so results do not depend on the algorithm.
 */

/** Whether entry a ranks above entry b. */
function above(values: Float32Array, a: number, b: number): boolean {
  const va = values[a];
  const vb = values[b];
  return va > vb || (va === vb && a < b);
}

/** Indices of the k highest values, best first. `k` is clipped to values.length. */
export function topIndices(values: Float32Array, k: number): Int32Array {
  const n = values.length;
  const size = Math.min(k, n);
  if (size <= 0) return new Int32Array(0);
  // heap[0] is the lowest-ranked of the entries kept so far.
  const heap = new Int32Array(size);
  let count = 0;
  const siftDown = (start: number) => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let lowest = i;
      if (l < count && above(values, heap[lowest], heap[l])) lowest = l;
      if (r < count && above(values, heap[lowest], heap[r])) lowest = r;
      if (lowest === i) return;
      const t = heap[i];
      heap[i] = heap[lowest];
      heap[lowest] = t;
      i = lowest;
    }
  };
  for (let idx = 0; idx < n; idx++) {
    if (count < size) {
      // Sift up.
      let i = count++;
      heap[i] = idx;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!above(values, heap[parent], heap[i])) break;
        const t = heap[i];
        heap[i] = heap[parent];
        heap[parent] = t;
        i = parent;
      }
    } else if (above(values, idx, heap[0])) {
      heap[0] = idx;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => (above(values, a, b) ? -1 : 1));
}

/**
 * The highest-ranked entries whose softmax probability adds up to at least p: the smallest such set
 * (at least one entry), found by a weighted quickselect in expected O(n) rather than a full sort. The ids
 * come back in no particular (but deterministic) order.
 */
export function topProbabilityMass(values: Float32Array, p: number): Int32Array {
  const n = values.length;
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = i;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (values[i] > max) max = values[i];
  if (max === -Infinity) return ids; // no finite value: nothing to weigh
  const weight = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) total += weight[i] = Math.exp(values[i] - max);
  const target = p * total;

  // ids[0, lo) are in the set and rank above everything after them; ids[hi, n) are out; the cut is in [lo, hi).
  let lo = 0;
  let hi = n;
  let taken = 0;
  while (hi - lo > 32) {
    const pivot = medianOfThree(values, ids[lo], ids[(lo + hi) >> 1], ids[hi - 1]);
    let store = lo;
    let aboveMass = 0;
    for (let i = lo; i < hi; i++) {
      const id = ids[i];
      if (above(values, id, pivot)) {
        ids[i] = ids[store];
        ids[store++] = id;
        aboveMass += weight[id];
      }
    }
    const at = ids.indexOf(pivot, store);
    ids[at] = ids[store];
    ids[store] = pivot;
    if (taken + aboveMass >= target) {
      hi = store;
    } else {
      taken += aboveMass + weight[pivot];
      if (taken >= target) return ids.slice(0, store + 1);
      lo = store + 1;
    }
  }
  const rest = Array.from(ids.subarray(lo, hi)).sort((a, b) => (above(values, a, b) ? -1 : 1));
  for (let k = 0; k < rest.length; k++) {
    ids[lo + k] = rest[k];
    taken += weight[rest[k]];
    if (taken >= target) return ids.slice(0, lo + k + 1);
  }
  return ids.slice(0, Math.max(hi, 1)); // rounding kept the sum just under p
}

function medianOfThree(values: Float32Array, a: number, b: number, c: number): number {
  if (above(values, a, b)) {
    if (above(values, b, c)) return b;
    return above(values, a, c) ? c : a;
  }
  if (above(values, a, c)) return a;
  return above(values, b, c) ? c : b;
}
