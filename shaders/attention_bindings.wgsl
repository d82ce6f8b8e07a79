// Snippet of the attention family: the storage bindings with vec4 views of q, k, v and out (HAS_BIAS, HAS_MASK),
// spliced by `//#include` into attention_flash.wgsl and attention_rows.wgsl. HAS_LSE adds the per-row log-sum-exp
// output lse [B, heads, Sq] f32 after out, at binding LSE_BINDING (set by the wrapper).

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<{{T}}>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<{{T}}>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<{{T}}>>;
//#if HAS_BIAS
//#if HAS_MASK
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<vec4<{{T}}>>;
//#else
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<vec4<{{T}}>>;
//#endif
//#elif HAS_MASK
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<vec4<{{T}}>>;
//#else
@group(0) @binding(4) var<storage, read_write> out: array<vec4<{{T}}>>;
//#endif
//#if HAS_LSE
@group(0) @binding({{LSE_BINDING}}) var<storage, read_write> lse: array<f32>;
//#endif
