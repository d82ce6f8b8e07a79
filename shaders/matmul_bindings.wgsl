// Snippet of the matmul family (params struct and storage bindings with vec4 views), spliced by `//#include`
// into matmul_tiled.wgsl and matmul_gemv.wgsl; defines as documented in matmul_tiled.wgsl's header.

struct Params { M: u32, N: u32, K: u32, a_bs: u32, b_bs: u32, c_bs: u32, gate_rows: u32, m_base: u32, act: u32 }

@group(0) @binding(0) var<uniform> p: Params;
//#if VEC_A
@group(0) @binding(1) var<storage, read> a: array<vec4<{{TA}}>>;
//#else
@group(0) @binding(1) var<storage, read> a: array<{{TA}}>;
//#endif
//#if VEC_BK
@group(0) @binding(2) var<storage, read> b: array<vec4<{{TB}}>>;
//#elif VEC_BN
@group(0) @binding(2) var<storage, read> b: array<vec4<{{TB}}>>;
//#else
@group(0) @binding(2) var<storage, read> b: array<{{TB}}>;
//#endif
//#if HAS_BIAS
@group(0) @binding({{BIAS_BINDING}}) var<storage, read> bias: array<{{TBIAS}}>;
//#endif
//#if HAS_RES
@group(0) @binding({{RES_BINDING}}) var<storage, read> res: array<{{TR}}>;
//#endif
//#if HAS_GATE
@group(0) @binding({{GATE_BINDING}}) var<storage, read> gate: array<{{TG}}>;
//#endif
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> out: array<{{TO}}>;
