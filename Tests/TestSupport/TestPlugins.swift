// Compiling C plug-ins (include/fusebench_plugin.h) at test time: tests of the loader, the
// `[[plugin]]` entry and worker isolation build small libraries from C text into a temporary
// directory with the system C compiler (`cc -shared -fPIC -O2`) and remove them afterwards.
import Foundation

/// A temporary directory holding compiled test plug-ins; `remove()` deletes it.
public struct TestPluginDirectory: Sendable {
    /// The directory (under the system temporary directory).
    public let url: URL

    /// The repository's `include/` directory (holding fusebench_plugin.h).
    public static let includeDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("include")

    /// Creates an empty directory `fusebench-plugin-UUID`.
    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("fusebench-plugin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Deletes the directory and everything in it.
    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }

    /// Writes `text` to `name` in the directory and returns its URL.
    @discardableResult
    public func write(_ text: String, to name: String) throws -> URL {
        let file = url.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Compiles the C source `source` into `lib<name>.so` in the directory, with the repository's
    /// `include/` on the include path and `flags` added (e.g. `-DFB_TEST_ABI=99`). Throws
    /// `TestPluginError` with the compiler's output when it fails.
    public func build(_ source: String, name: String, flags: [String] = []) throws -> URL {
        let c = try write(source, to: "\(name).c")
        let lib = url.appendingPathComponent("lib\(name).so")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["cc", "-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-Werror", "-I", Self.includeDirectory.path]
            + flags + ["-o", lib.path, c.path, "-lm"]
        let log = url.appendingPathComponent("\(name).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw TestPluginError(message: "cc failed (\(p.terminationStatus)) for \(name).c:\n\(output)")
        }
        return lib
    }
}

/// A test plug-in that did not compile.
public struct TestPluginError: Error, CustomStringConvertible {
    /// The compiler's output.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// C sources of test plug-ins, shared by the loader, suite and isolation tests.
public enum TestPluginSources {
    /// A good plug-in `test_kernels` with three kernels:
    /// - `my_gemm` (variant `naive`), verified against fusebench's `gemm`;
    /// - `my_softmax` (variant `rows`), verified against fusebench's `softmax`;
    /// - `scale2` (own reference `reference_scale`, variants `unrolled` and `with_setup`; shape key
    ///   `n`, refused with "n must be a multiple of 4" otherwise): y = 2·x.
    /// `-DFB_TEST_WRONG` makes `my_gemm` add 1 to every element (verification must fail);
    /// `-DFB_TEST_ABI=N` reports ABI version N.
    public static let good = #"""
    #include "fusebench_plugin.h"
    #include <math.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>

    #ifndef FB_TEST_ABI
    #define FB_TEST_ABI FUSEBENCH_PLUGIN_ABI_VERSION
    #endif

    static void gemm_naive(const fb_args *a, void *state) {
        (void)state;
        int64_t m = a->shape[0], n = a->shape[1], k = a->shape[2];
        const float *A = a->inputs[0], *B = a->inputs[1];
        float *C = a->output;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                float s = 0;
                for (int64_t p = 0; p < k; p++) s += A[i * k + p] * B[p * n + j];
    #ifdef FB_TEST_WRONG
                s += 1.0f;
    #endif
                C[i * n + j] = s;
            }
    }

    static void softmax_rows(const fb_args *a, void *state) {
        (void)state;
        int64_t rows = a->shape[0], cols = a->shape[1];
        const float *x = a->inputs[0];
        float *y = a->output;
        for (int64_t r = 0; r < rows; r++) {
            float mx = x[r * cols];
            for (int64_t j = 1; j < cols; j++) if (x[r * cols + j] > mx) mx = x[r * cols + j];
            double sum = 0;
            for (int64_t j = 0; j < cols; j++) { y[r * cols + j] = expf(x[r * cols + j] - mx); sum += y[r * cols + j]; }
            for (int64_t j = 0; j < cols; j++) y[r * cols + j] = (float)(y[r * cols + j] / sum);
        }
    }

    static void scale_ref(const fb_args *a, void *state) {
        (void)state;
        const float *x = a->inputs[0];
        float *y = a->output;
        for (uint64_t i = 0; i < a->output_count; i++) y[i] = 2.0f * x[i];
    }

    static void scale_unrolled(const fb_args *a, void *state) {
        (void)state;
        const float *x = a->inputs[0];
        float *y = a->output;
        for (uint64_t i = 0; i < a->output_count; i += 4) {
            y[i] = x[i] + x[i]; y[i + 1] = x[i + 1] + x[i + 1]; y[i + 2] = x[i + 2] + x[i + 2]; y[i + 3] = x[i + 3] + x[i + 3];
        }
    }

    static int32_t scale_setup(const fb_args *a, void **state, char *message, uint32_t size) {
        (void)message; (void)size;
        float *factor = malloc(sizeof(float));
        if (!factor) return 1;
        *factor = 2.0f;
        (void)a;
        *state = factor;
        return 0;
    }

    static void scale_with_state(const fb_args *a, void *state) {
        const float f = *(const float *)state;
        const float *x = a->inputs[0];
        float *y = a->output;
        for (uint64_t i = 0; i < a->output_count; i++) y[i] = f * x[i];
    }

    static void scale_teardown(void *state) { free(state); }

    static int32_t scale_check(const int64_t *shape, char *message, uint32_t size) {
        if (shape[0] % 4 != 0) {
            snprintf(message, size, "n must be a multiple of 4, got %lld", (long long)shape[0]);
            return 1;
        }
        return 0;
    }

    static int32_t scale_layout(const int64_t *shape, fb_layout *l, char *message, uint32_t size) {
        (void)message; (void)size;
        l->input_count = 1;
        l->inputs[0] = (fb_tensor){ .name = "x", .type = FB_F32, .fill = FB_FILL_UNIFORM, .count = (uint64_t)shape[0], .lo = -1, .hi = 1 };
        l->output = (fb_tensor){ .name = "y", .type = FB_F32, .count = (uint64_t)shape[0] };
        return 0;
    }

    static double scale_flops(const int64_t *shape) { return (double)shape[0]; }

    static const fb_variant gemm_variants[] = { { .name = "naive", .run = gemm_naive } };
    static const fb_variant softmax_variants[] = { { .name = "rows", .run = softmax_rows } };
    static const fb_variant scale_reference = { .name = "reference_scale", .run = scale_ref };
    static const fb_variant scale_variants[] = {
        { .name = "unrolled", .run = scale_unrolled },
        { .name = "with_setup", .setup = scale_setup, .run = scale_with_state, .teardown = scale_teardown },
    };
    static const char *const scale_keys[] = { "n" };

    static const fb_kernel kernels[] = {
        { .name = "my_gemm", .summary = "naive SGEMM", .verify_against = "gemm", .variant_count = 1, .variants = gemm_variants },
        { .name = "my_softmax", .summary = "row softmax", .verify_against = "softmax", .variant_count = 1, .variants = softmax_variants },
        { .name = "scale2", .summary = "y = 2x", .shape_key_count = 1, .shape_keys = scale_keys, .check_shape = scale_check,
          .layout = scale_layout, .flops = scale_flops, .reference = &scale_reference, .variant_count = 2, .variants = scale_variants },
    };

    static const fb_plugin plugin = {
        FB_TEST_ABI, sizeof(fb_plugin), sizeof(fb_kernel), sizeof(fb_variant),
        .name = "test_kernels", .kernel_count = 3, .kernels = kernels,
    };

    const fb_plugin *fusebench_plugin(void) { return &plugin; }
    """#

    /// A shared library that exports no `fusebench_plugin`.
    public static let noEntry = """
    int not_a_plugin(void) { return 42; }
    """

    /// A plug-in `setup_fails` whose kernel `k` (verified against `relu`) has a variant `v` whose
    /// setup allocates, fails with "no scratch for n=N", and counts its teardowns in `teardowns()`.
    public static let setupFails = #"""
    #include "fusebench_plugin.h"
    #include <stdio.h>
    #include <stdlib.h>
    static int calls;
    FUSEBENCH_PLUGIN_EXPORT int teardowns(void) { return calls; }
    static int32_t setup(const fb_args *a, void **state, char *message, uint32_t size) {
        *state = malloc(16);
        snprintf(message, size, "no scratch for n=%lld", (long long)a->shape[0]);
        return 1;
    }
    static void run(const fb_args *a, void *s) { (void)a; (void)s; }
    static void teardown(void *s) { free(s); calls++; }
    static const fb_variant variants[] = { { .name = "v", .setup = setup, .run = run, .teardown = teardown } };
    static const fb_kernel kernels[] = { { .name = "k", .verify_against = "relu", .variant_count = 1, .variants = variants } };
    static const fb_plugin plugin = { FUSEBENCH_PLUGIN_HEADER, .name = "setup_fails", .kernel_count = 1, .kernels = kernels };
    const fb_plugin *fusebench_plugin(void) { return &plugin; }
    """#

    /// A plug-in `chatty` whose kernel `act` (verified against `relu`, variant `talks`) prints
    /// `x` on stdout and flushes it on every call, as a debugging kernel would.
    public static let chatty = #"""
    #include "fusebench_plugin.h"
    #include <stdio.h>
    static void talks(const fb_args *a, void *s) {
        (void)s;
        const float *x = a->inputs[0];
        float *y = a->output;
        for (uint64_t i = 0; i < a->output_count; i++) y[i] = x[i] > 0 ? x[i] : 0;
        printf("x\n");
        fflush(stdout);
    }
    static const fb_variant variants[] = { { .name = "talks", .run = talks } };
    static const fb_kernel kernels[] = { { .name = "act", .verify_against = "relu", .variant_count = 1, .variants = variants } };
    static const fb_plugin plugin = { FUSEBENCH_PLUGIN_HEADER, .name = "chatty", .kernel_count = 1, .kernels = kernels };
    const fb_plugin *fusebench_plugin(void) { return &plugin; }
    """#

    /// A plug-in whose kernel names a built-in kind that cannot verify it (`verify_against = "nope"`).
    public static let badVerify = #"""
    #include "fusebench_plugin.h"
    static void run(const fb_args *a, void *s) { (void)a; (void)s; }
    static const fb_variant variants[] = { { .name = "v", .run = run } };
    static const fb_kernel kernels[] = { { .name = "k", .verify_against = "nope", .variant_count = 1, .variants = variants } };
    static const fb_plugin plugin = { FUSEBENCH_PLUGIN_HEADER, .name = "bad", .kernel_count = 1, .kernels = kernels };
    const fb_plugin *fusebench_plugin(void) { return &plugin; }
    """#

    /// A plug-in `counted` whose kernel `g` (verified against `gemm`) has a `check_shape` that
    /// counts its calls in `check_calls()`: fusebench's own shape checks must come first.
    public static let checkCounter = #"""
    #include "fusebench_plugin.h"
    static int calls;
    FUSEBENCH_PLUGIN_EXPORT int check_calls(void) { return calls; }
    static int32_t check(const int64_t *shape, char *message, uint32_t size) { (void)shape; (void)message; (void)size; calls++; return 0; }
    static void run(const fb_args *a, void *s) { (void)a; (void)s; }
    static const fb_variant variants[] = { { .name = "v", .run = run } };
    static const fb_kernel kernels[] = { { .name = "g", .verify_against = "gemm", .check_shape = check, .variant_count = 1, .variants = variants } };
    static const fb_plugin plugin = { FUSEBENCH_PLUGIN_HEADER, .name = "counted", .kernel_count = 1, .kernels = kernels };
    const fb_plugin *fusebench_plugin(void) { return &plugin; }
    """#

    /// A plug-in `bad_input` (kernel `k`, own reference `ref`, variant `v`, shape key `n`) that is
    /// correct as written; one `-D` flag breaks one rule of the header:
    /// `FB_BAD_NULL_ENTRY` (the entry returns NULL), `FB_BAD_SIZE` (a wrong sizeof(fb_kernel)),
    /// `FB_BAD_PLUGIN_NAME` / `FB_BAD_KERNEL_NAME` / `FB_BAD_VARIANT_NAME` (NULL names),
    /// `FB_KERNEL_COUNT=N` / `FB_VARIANT_COUNT=N` (counts), `FB_BAD_LAYOUT_TYPE` (output type 9),
    /// `FB_BAD_LAYOUT_FILL` (input fill 7), `FB_BAD_LAYOUT_COUNT` (input_count 0) and
    /// `FB_BAD_MESSAGE` (check_shape refuses, filling the whole message buffer with 'x', no NUL).
    public static let badInput = #"""
    #include "fusebench_plugin.h"
    #include <stddef.h>
    #include <string.h>
    #ifndef FB_KERNEL_COUNT
    #define FB_KERNEL_COUNT 1
    #endif
    #ifndef FB_VARIANT_COUNT
    #define FB_VARIANT_COUNT 1
    #endif
    static int32_t check(const int64_t *shape, char *message, uint32_t size) {
        (void)shape;
    #ifdef FB_BAD_MESSAGE
        memset(message, 'x', size);
        return 1;
    #else
        (void)message; (void)size;
        return 0;
    #endif
    }
    static int32_t layout(const int64_t *shape, fb_layout *l, char *message, uint32_t size) {
        (void)message; (void)size;
        l->input_count = 1;
        l->inputs[0] = (fb_tensor){ .name = "x", .type = FB_F32, .fill = FB_FILL_UNIFORM, .count = (uint64_t)shape[0], .lo = -1, .hi = 1 };
        l->output = (fb_tensor){ .name = "y", .type = FB_F32, .count = (uint64_t)shape[0] };
    #ifdef FB_BAD_LAYOUT_TYPE
        l->output.type = 9;
    #endif
    #ifdef FB_BAD_LAYOUT_FILL
        l->inputs[0].fill = 7;
    #endif
    #ifdef FB_BAD_LAYOUT_COUNT
        l->input_count = 0;
    #endif
        return 0;
    }
    static void copy(const fb_args *a, void *s) {
        (void)s;
        const float *x = a->inputs[0];
        float *y = a->output;
        for (uint64_t i = 0; i < a->output_count; i++) y[i] = x[i];
    }
    static const char *const keys[] = { "n" };
    #ifdef FB_BAD_VARIANT_NAME
    #define VARIANT_NAME NULL
    #else
    #define VARIANT_NAME "v"
    #endif
    static const fb_variant reference = { .name = "ref", .run = copy };
    static const fb_variant variants[] = { { .name = VARIANT_NAME, .run = copy } };
    #ifdef FB_BAD_KERNEL_NAME
    #define KERNEL_NAME NULL
    #else
    #define KERNEL_NAME "k"
    #endif
    static const fb_kernel kernels[] = { {
        .name = KERNEL_NAME, .shape_key_count = 1, .shape_keys = keys, .check_shape = check, .layout = layout,
        .reference = &reference, .variant_count = FB_VARIANT_COUNT, .variants = variants,
    } };
    #ifdef FB_BAD_PLUGIN_NAME
    #define PLUGIN_NAME NULL
    #else
    #define PLUGIN_NAME "bad_input"
    #endif
    #ifdef FB_BAD_SIZE
    static const fb_plugin plugin = { FUSEBENCH_PLUGIN_ABI_VERSION, sizeof(fb_plugin), sizeof(fb_kernel) + 8, sizeof(fb_variant),
                                      .name = PLUGIN_NAME, .kernel_count = FB_KERNEL_COUNT, .kernels = kernels };
    #else
    static const fb_plugin plugin = { FUSEBENCH_PLUGIN_HEADER, .name = PLUGIN_NAME, .kernel_count = FB_KERNEL_COUNT, .kernels = kernels };
    #endif
    const fb_plugin *fusebench_plugin(void) {
    #ifdef FB_BAD_NULL_ENTRY
        (void)plugin;
        return NULL;
    #else
        return &plugin;
    #endif
    }
    """#
}
