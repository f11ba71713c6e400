"""The CUDA built-ins that kernel files use, as host C++: what scripts/gpu/ggml_host_check.py and
simt_host_check.py put before the kernel files they compile for the CPU. Vector types, the
read-only load, the separately rounded float operations, bit casts; each check adds its own
(threads, shuffles, the headers it stands in for)."""

BUILTINS = r"""
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#define __device__
#define __host__
#define __forceinline__ inline
#define __global__
struct uint4 { unsigned int x, y, z, w; };
struct int4 { int x, y, z, w; };
struct uint2 { unsigned int x, y; };
struct float2 { float x, y; };
struct float4 { float x, y, z, w; };
inline float2 make_float2(float a, float b) { return {a, b}; }
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }
template <typename T> inline T __ldg(const T* p) { T v; std::memcpy(&v, p, sizeof(T)); return v; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
// volatile: each product and sum rounded on its own, as the GPU's __fmul_rn / __fadd_rn.
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline int __float2int_rn(float f) { return (int)std::nearbyint(f); }
"""
