/// `torch.topk(x, k, largest=True, sorted=True)` on the CPU, with its exact order among equal
/// values. PyTorch pairs each value with its index and, for `k * 64 <= n`, runs
/// `std::partial_sort`, otherwise `std::nth_element` to put the k-th largest in place followed by
/// `std::sort` of the k - 1 before it, all with the comparison "x is NaN and y is not, or x > y".
/// Those algorithms are not stable, so which of several equal router probabilities wins depends on
/// their steps: this type performs the same steps as GNU libstdc++ (introselect with a median-of-
/// three pivot, insertion sort below 17 elements, heap select), which the Linux wheels use.
/// A mixture-of-experts router with tied probabilities then picks the experts transformers picks.
public enum TorchTopK {
    /// The indices of the `k` largest of `values` in `torch.topk`'s order.
    public static func indices(_ values: [Float], k: Int) -> [Int] {
        precondition(k >= 0 && k <= values.count, "top-\(k) of \(values.count) values")
        guard k > 0 else { return [] }
        var queue = Queue(values)
        if k * 64 <= values.count {
            queue.heapSelect(0, k, values.count)
            queue.sortHeap(0, k)
        } else {
            queue.nthElement(0, k - 1, values.count)
            queue.sort(0, k - 1)
        }
        return queue.items.prefix(k).map { Int($0.index) }
    }

    /// Value-index pairs and libstdc++'s algorithms over half-open ranges of them.
    struct Queue {
        var items: [(value: Float, index: Int32)]

        init(_ values: [Float]) { items = values.enumerated().map { ($0.element, Int32($0.offset)) } }

        /// The comparison PyTorch passes for `largest`: NaN first, then larger first.
        static func before(_ x: (value: Float, index: Int32), _ y: (value: Float, index: Int32)) -> Bool {
            (x.value.isNaN && !y.value.isNaN) || x.value > y.value
        }

        func before(_ i: Int, _ j: Int) -> Bool { Self.before(items[i], items[j]) }

        static func log2Floor(_ n: Int) -> Int { Int.bitWidth - 1 - n.leadingZeroBitCount }

        mutating func nthElement(_ first: Int, _ nth: Int, _ last: Int) {
            guard first != last, nth != last else { return }
            var (first, last, depth) = (first, last, Self.log2Floor(last - first) * 2)
            while last - first > 3 {
                if depth == 0 {
                    heapSelect(first, nth + 1, last)
                    items.swapAt(first, nth)
                    return
                }
                depth -= 1
                let cut = partitionAroundPivot(first, last)
                if cut <= nth { first = cut } else { last = cut }
            }
            insertionSort(first, last)
        }

        mutating func sort(_ first: Int, _ last: Int) {
            guard first != last else { return }
            introsortLoop(first, last, Self.log2Floor(last - first) * 2)
            if last - first > 16 {
                insertionSort(first, first + 16)
                for i in (first + 16)..<last { linearInsert(i) }
            } else {
                insertionSort(first, last)
            }
        }

        mutating func introsortLoop(_ first: Int, _ last: Int, _ depth: Int) {
            var (last, depth) = (last, depth)
            while last - first > 16 {
                if depth == 0 {
                    heapSelect(first, last, last)
                    sortHeap(first, last)
                    return
                }
                depth -= 1
                let cut = partitionAroundPivot(first, last)
                introsortLoop(cut, last, depth)
                last = cut
            }
        }

        /// Moves the median of the second, middle and last elements to `first`, then partitions
        /// the rest around it; returns where the second part begins.
        mutating func partitionAroundPivot(_ first: Int, _ last: Int) -> Int {
            let (a, b, c) = (first + 1, first + (last - first) / 2, last - 1)
            let median: Int
            if before(a, b) {
                median = before(b, c) ? b : (before(a, c) ? c : a)
            } else {
                median = before(a, c) ? a : (before(b, c) ? c : b)
            }
            items.swapAt(first, median)
            var (low, high) = (first + 1, last)
            while true {
                while before(low, first) { low += 1 }
                high -= 1
                while before(first, high) { high -= 1 }
                if !(low < high) { return low }
                items.swapAt(low, high)
                low += 1
            }
        }

        mutating func insertionSort(_ first: Int, _ last: Int) {
            guard first != last else { return }
            for i in (first + 1)..<last {
                if before(i, first) {
                    let moving = items[i]
                    for j in stride(from: i, to: first, by: -1) { items[j] = items[j - 1] }
                    items[first] = moving
                } else {
                    linearInsert(i)
                }
            }
        }

        /// Shifts `items[position]` left past the elements it goes before (a smaller one stops it).
        mutating func linearInsert(_ position: Int) {
            let moving = items[position]
            var hole = position
            while Self.before(moving, items[hole - 1]) {
                items[hole] = items[hole - 1]
                hole -= 1
            }
            items[hole] = moving
        }

        mutating func heapSelect(_ first: Int, _ middle: Int, _ last: Int) {
            makeHeap(first, middle)
            for i in middle..<last where before(i, first) { popHeap(first, middle, i) }
        }

        mutating func sortHeap(_ first: Int, _ last: Int) {
            var last = last
            while last - first > 1 {
                last -= 1
                popHeap(first, last, last)
            }
        }

        mutating func makeHeap(_ first: Int, _ last: Int) {
            let count = last - first
            guard count >= 2 else { return }
            var parent = (count - 2) / 2
            while true {
                adjustHeap(first, parent, count, items[first + parent])
                if parent == 0 { return }
                parent -= 1
            }
        }

        mutating func popHeap(_ first: Int, _ last: Int, _ result: Int) {
            let value = items[result]
            items[result] = items[first]
            adjustHeap(first, 0, last - first, value)
        }

        mutating func adjustHeap(_ first: Int, _ hole: Int, _ count: Int, _ value: (value: Float, index: Int32)) {
            let top = hole
            var (hole, child) = (hole, hole)
            while child < (count - 1) / 2 {
                child = 2 * (child + 1)
                if before(first + child, first + child - 1) { child -= 1 }
                items[first + hole] = items[first + child]
                hole = child
            }
            if count & 1 == 0, child == (count - 2) / 2 {
                child = 2 * (child + 1)
                items[first + hole] = items[first + child - 1]
                hole = child - 1
            }
            var parent = (hole - 1) / 2
            while hole > top, Self.before(items[first + parent], value) {
                items[first + hole] = items[first + parent]
                hole = parent
                parent = (hole - 1) / 2
            }
            items[first + hole] = value
        }
    }
}
