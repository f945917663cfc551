/*
 * fusebench_plugin.h — the C ABI of a fusebench kernel plug-in.
 *
 * A plug-in is a shared library (C, C++, Rust, assembly, ...) that exports one function,
 * `fusebench_plugin` (FUSEBENCH_PLUGIN_ENTRY_NAME), returning a description of its kernels. A suite
 * entry `[[plugin]]` names the library (a path relative to the suite file) and one of its kernels;
 * fusebench loads the library with dlopen, allocates seeded inputs and the output for the suite's
 * shape (in guarded memory: a write past the output is detected), verifies every variant against a
 * reference — fusebench's own reference of a built-in kind (`verify_against`), or the plug-in's own
 * `reference` variant — and then times the variants. docs/own-kernels.md walks through it.
 *
 * Versioning: FUSEBENCH_PLUGIN_ABI_VERSION changes whenever the layout or the meaning of anything
 * in this header changes; fusebench refuses a plug-in built against another version and names both
 * numbers. Within one version nothing is added, removed or reordered. The struct sizes in
 * `fb_plugin` let fusebench catch a plug-in compiled with a different packing.
 *
 * Memory and lifetime: every pointer a plug-in returns (names, arrays, the `fb_plugin` itself) must
 * stay valid until the process exits (static storage is the simple way); fusebench never frees it
 * and never unloads the library. Every pointer fusebench passes in (`fb_args` and what it points
 * to) is valid only for the duration of the call, except the buffers themselves
 * (`inputs`, `output`), which stay at the same addresses from `setup` to `teardown`, and `args`
 * itself, which stays valid and unchanged from `setup` to `teardown` too.
 *
 * Threading: fusebench calls a plug-in from one thread at a time. A kernel must keep no global
 * state across iterations and must write the same output for the same inputs.
 */
#ifndef FUSEBENCH_PLUGIN_H
#define FUSEBENCH_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version this header describes; a plug-in reports it in `fb_plugin.abi_version`. */
#define FUSEBENCH_PLUGIN_ABI_VERSION 1

/** The name of the one exported entry symbol (see FUSEBENCH_PLUGIN_ENTRY_NAME). */
#define FUSEBENCH_PLUGIN_ENTRY fusebench_plugin
/** The entry symbol's name as a string, as fusebench looks it up with dlsym. */
#define FUSEBENCH_PLUGIN_ENTRY_NAME "fusebench_plugin"

/** Exports a symbol from the shared library (needed with -fvisibility=hidden). */
#if defined(__GNUC__) || defined(__clang__)
#define FUSEBENCH_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define FUSEBENCH_PLUGIN_EXPORT
#endif

/** Most inputs one kernel may have (`fb_layout.inputs`). */
#define FB_MAX_INPUTS 8
/** Most shape keys one kernel may have (`fb_kernel.shape_keys`). */
#define FB_MAX_SHAPE_KEYS 8

/** Element types of a tensor (`fb_tensor.type`). */
#define FB_F32 0u /**< 32-bit IEEE float. */
#define FB_I8 1u  /**< signed 8-bit integer. */
#define FB_U8 2u  /**< unsigned 8-bit integer. */
#define FB_I32 3u /**< signed 32-bit integer. */

/** How fusebench fills an input before verification and timing (`fb_tensor.fill`). The same seed
 *  gives the same bytes, so every variant and the reference see identical inputs. */
#define FB_FILL_UNIFORM 0u  /**< f32 uniform in [lo, hi). */
#define FB_FILL_INTEGERS 1u /**< integers in [lo, hi], both inclusive (i8, u8, i32). */
#define FB_FILL_ZEROS 2u    /**< all zero bytes. */

/** One tensor of a kernel: an input (filled by fusebench) or the output. */
typedef struct fb_tensor {
    /** Name shown in messages (e.g. "A"); NULL is shown as "inputN" / "output". */
    const char *name;
    /** Element type: FB_F32, FB_I8, FB_U8 or FB_I32. The output must be FB_F32 or FB_I32. */
    uint32_t type;
    /** Fill of an input: FB_FILL_UNIFORM, FB_FILL_INTEGERS or FB_FILL_ZEROS (ignored for the output). */
    uint32_t fill;
    /** Number of elements, at least 1. */
    uint64_t count;
    /** Lower bound of the fill (see FB_FILL_*). */
    double lo;
    /** Upper bound of the fill (see FB_FILL_*). */
    double hi;
} fb_tensor;

/** The tensors of one op instance, written by `fb_kernel.layout`. */
typedef struct fb_layout {
    /** Number of inputs, 1 ... FB_MAX_INPUTS. */
    uint32_t input_count;
    /** Reserved, leave 0. */
    uint32_t reserved;
    /** The inputs, in the order `fb_args.inputs` passes them. */
    fb_tensor inputs[FB_MAX_INPUTS];
    /** The one output. */
    fb_tensor output;
} fb_layout;

/** What a variant's functions receive: the shape and the buffers of one op instance. */
typedef struct fb_args {
    /** The shape values, in the order of the kernel's shape keys (`fb_kernel.shape_keys`, or the
     *  built-in kind's keys when `verify_against` is set). */
    const int64_t *shape;
    /** Number of values in `shape`. */
    uint32_t shape_count;
    /** Number of inputs. */
    uint32_t input_count;
    /** The input buffers (read-only: writing to one faults), 64-byte aligned. */
    const void *const *inputs;
    /** Element counts of the inputs. */
    const uint64_t *input_counts;
    /** The output buffer, 64-byte aligned; writing past `output_count` elements is detected. */
    void *output;
    /** Element count of the output. */
    uint64_t output_count;
} fb_args;

/** One implementation of a kernel (a measured variant, or the kernel's own reference). */
typedef struct fb_variant {
    /** Variant name, letters, digits, '_', '-' and '.'; unique within the kernel. */
    const char *name;
    /** Optional (NULL: none). Runs once per op instance before any `run`: allocate scratch, pack
     *  weights, ... and store what `run` needs in `*state` (initially NULL). Return 0 on success,
     *  nonzero with a message (at most `message_size` bytes, NUL included) to fail the variant. */
    int32_t (*setup)(const fb_args *args, void **state, char *message, uint32_t message_size);
    /** Required. One iteration: reads `args->inputs`, writes all of `args->output`. `state` is what
     *  `setup` stored (NULL without setup). Timed; called many times with the same arguments. */
    void (*run)(const fb_args *args, void *state);
    /** Optional (NULL: none). Frees what `setup` allocated; called once when the instance goes,
     *  also after a `setup` that failed (with whatever it stored in `*state`, NULL if nothing). */
    void (*teardown)(void *state);
} fb_variant;

/** An accuracy band: a variant passes when every element is within `abs + rel * |reference|` and
 *  the cosine similarity with the reference is at least `min_cosine`. */
typedef struct fb_tolerance {
    /** Absolute error allowed per element. */
    double abs;
    /** Relative error allowed per element. */
    double rel;
    /** Smallest cosine similarity allowed (e.g. 0.9999). */
    double min_cosine;
} fb_tolerance;

/** One kernel kind of the plug-in. */
typedef struct fb_kernel {
    /** Kernel name (the suite's `kernel` key and the op's kind): letters, digits, '_', '-', '.'. */
    const char *name;
    /** One line describing it (may be NULL). */
    const char *summary;
    /** The built-in kind the variants are verified against (e.g. "gemm", "softmax"; its inputs,
     *  output, shape keys, FLOPs and default tolerance are fusebench's, see docs/own-kernels.md), or
     *  NULL to verify against this kernel's own `reference` and describe the tensors with `layout`. */
    const char *verify_against;
    /** Number of shape keys (0 when `verify_against` is set: the built-in kind's keys are used). */
    uint32_t shape_key_count;
    /** Reserved, leave 0. */
    uint32_t reserved;
    /** The shape keys (e.g. {"rows", "cols"}), at most FB_MAX_SHAPE_KEYS; NULL with `verify_against`. */
    const char *const *shape_keys;
    /** Optional (NULL: every positive shape is accepted). Return nonzero and write a message
     *  (at most `message_size` bytes, NUL included) to refuse a shape this kernel cannot run. */
    int32_t (*check_shape)(const int64_t *shape, char *message, uint32_t message_size);
    /** Required without `verify_against`, must be NULL with it. Describes the tensors of a shape in
     *  `*layout` (zeroed before the call); return nonzero with a message to refuse the shape. */
    int32_t (*layout)(const int64_t *shape, fb_layout *layout, char *message, uint32_t message_size);
    /** Optional: floating-point operations of one iteration (the roofline). NULL: the built-in
     *  kind's figure with `verify_against`, else 0. */
    double (*flops)(const int64_t *shape);
    /** Optional: compulsory bytes moved by one iteration. NULL: the sum of the tensors' sizes. */
    double (*bytes)(const int64_t *shape);
    /** Required without `verify_against`, must be NULL with it: the kernel's own reference, which
     *  every variant is verified against (a plain, obviously correct implementation). */
    const fb_variant *reference;
    /** Number of measured variants, at least 1. */
    uint32_t variant_count;
    /** Reserved, leave 0. */
    uint32_t reserved2;
    /** The measured variants. */
    const fb_variant *variants;
    /** Optional accuracy band for the variants (NULL: the built-in kind's default with
     *  `verify_against`, else abs 1e-4, rel 1e-3, min_cosine 0.9999). A suite's `tolerance` wins. */
    const fb_tolerance *tolerance;
} fb_kernel;

/** What `fusebench_plugin()` returns: the plug-in and its kernels. */
typedef struct fb_plugin {
    /** FUSEBENCH_PLUGIN_ABI_VERSION of the header the plug-in was compiled with. */
    uint32_t abi_version;
    /** sizeof(fb_plugin) as compiled into the plug-in. */
    uint32_t struct_size;
    /** sizeof(fb_kernel) as compiled into the plug-in (the stride of `kernels`). */
    uint32_t kernel_size;
    /** sizeof(fb_variant) as compiled into the plug-in (the stride of `variants`). */
    uint32_t variant_size;
    /** The plug-in's name (e.g. "example_kernels"), shown in messages. */
    const char *name;
    /** Number of kernels, at least 1. */
    uint32_t kernel_count;
    /** Reserved, leave 0. */
    uint32_t reserved;
    /** The kernels. */
    const fb_kernel *kernels;
} fb_plugin;

/** Initializer for the first four fields of an `fb_plugin`:
 *  `static const fb_plugin p = { FUSEBENCH_PLUGIN_HEADER, "name", 2, 0, kernels };` */
#define FUSEBENCH_PLUGIN_HEADER \
    FUSEBENCH_PLUGIN_ABI_VERSION, (uint32_t)sizeof(fb_plugin), (uint32_t)sizeof(fb_kernel), (uint32_t)sizeof(fb_variant)

/** The type of the entry point. */
typedef const fb_plugin *(*fb_plugin_entry_fn)(void);

/** The entry point a plug-in defines: `const fb_plugin *fusebench_plugin(void) { return &p; }`.
 *  It is called once per process and must return the same description every time. */
FUSEBENCH_PLUGIN_EXPORT const fb_plugin *FUSEBENCH_PLUGIN_ENTRY(void);

#ifdef __cplusplus
}
#endif

#endif /* FUSEBENCH_PLUGIN_H */
