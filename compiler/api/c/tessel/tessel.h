/*===- tessel.h - Tessel's C API ----------------------------------*- C -*-===*
 *
 * Compile a single-device model (ONNX or MLIR) for a mesh of devices,
 * inspect what the compiler chose, save it, and run it on host threads,
 * from any language that calls C. libtessel.so implements it;
 * `cc prog.c $(pkg-config --cflags --libs tessel)` builds against it.
 *
 *   tessel_options *options = tessel_options_create();
 *   int64_t dims[] = {8, 64};
 *   tessel_options_set_input_shape(options, "x", dims, 2);
 *   tessel_options_set_mesh(options, "x=2,y=2");
 *   tessel_options_set_auto(options, 1, 10.0);
 *   tessel_executable *executable = NULL;
 *   tessel_status *status =
 *       tessel_compile_file("model.onnx", options, &executable);
 *   if (status) { puts(tessel_status_message(status)); ... }
 *   tessel_runner *runner = NULL;
 *   status = tessel_runner_create(executable, 0, &runner);
 *   status = tessel_runner_run(runner, inputs, 1, outputs, 1);
 *
 * Conventions:
 * - Every fallible call returns a tessel_status *: NULL on success, else an
 *   error the caller owns and frees with tessel_status_free.
 * - Objects are opaque handles. What a *_create, tessel_compile_* or
 *   *_read call returns through an out parameter belongs to the caller,
 *   who frees it with the matching *_free (which accepts NULL). Strings
 *   returned as `char *` are the caller's (tessel_string_free); `const
 *   char *` ones belong to the object they came from and live as long as
 *   it does.
 * - Nothing here exits the process or aborts on bad input.
 * - Compiling is thread-safe (each compilation has its own context).
 *   A runner may be called from several threads; its calls take turns
 *   (one set of device buffers). Different runners run in parallel.
 *
 * Versioning: the ABI is the one of TESSEL_API_VERSION_MAJOR. Minor
 * versions only add functions and enumerators; a program checks at start
 * that tessel_api_version() >> 16 equals the major it was built with.
 *
 *===----------------------------------------------------------------------===*/

#ifndef TESSEL_TESSEL_H
#define TESSEL_TESSEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TESSEL_EXPORT __attribute__((visibility("default")))
#else
#define TESSEL_EXPORT
#endif

#define TESSEL_API_VERSION_MAJOR 1
#define TESSEL_API_VERSION_MINOR 3

/* (major << 16) | minor of the library loaded at run time. */
TESSEL_EXPORT uint32_t tessel_api_version(void);

/*===--- Status -----------------------------------------------------------===*/

/* Error codes: absl::StatusCode's values. */
typedef enum tessel_status_code {
  TESSEL_OK = 0,
  TESSEL_CANCELLED = 1,
  TESSEL_UNKNOWN = 2,
  TESSEL_INVALID_ARGUMENT = 3,
  TESSEL_DEADLINE_EXCEEDED = 4,
  TESSEL_NOT_FOUND = 5,
  TESSEL_ALREADY_EXISTS = 6,
  TESSEL_PERMISSION_DENIED = 7,
  TESSEL_RESOURCE_EXHAUSTED = 8,
  TESSEL_FAILED_PRECONDITION = 9,
  TESSEL_ABORTED = 10,
  TESSEL_OUT_OF_RANGE = 11,
  TESSEL_UNIMPLEMENTED = 12,
  TESSEL_INTERNAL = 13,
  TESSEL_UNAVAILABLE = 14,
  TESSEL_DATA_LOSS = 15,
} tessel_status_code;

typedef struct tessel_status tessel_status;

TESSEL_EXPORT tessel_status_code tessel_status_get_code(const tessel_status *);
/* The message: for a compilation error the compiler's diagnostics, one per
 * line ("model.mlir:3:5: error: ..."). */
TESSEL_EXPORT const char *tessel_status_message(const tessel_status *);
TESSEL_EXPORT void tessel_status_free(tessel_status *);
TESSEL_EXPORT void tessel_string_free(char *);

/*===--- Tensors ----------------------------------------------------------===*/

/* Element types: the values of the executable format's ElementType. */
typedef enum tessel_element_type {
  TESSEL_ELEMENT_UNSPECIFIED = 0,
  TESSEL_F32 = 1,
  TESSEL_F16 = 2,
  TESSEL_BF16 = 3,
  TESSEL_I32 = 4,
  TESSEL_I64 = 5,
  TESSEL_BOOL = 6, /* one byte, 0 or 1 */
  TESSEL_I8 = 7,
  TESSEL_U8 = 8,
  TESSEL_I16 = 9,
  TESSEL_U16 = 10,
  TESSEL_U32 = 11,
  TESSEL_F64 = 12,
  TESSEL_U64 = 13,
} tessel_element_type;

/* Bytes per element, 0 for an unknown type. */
TESSEL_EXPORT size_t tessel_element_size(tessel_element_type);

/* A dense row-major tensor the caller owns: inputs are read in place,
 * outputs written in place. */
typedef struct tessel_tensor {
  tessel_element_type type;
  const int64_t *dims;
  size_t rank;
  void *data;
  size_t bytes;
} tessel_tensor;

/*===--- Compile options ---------------------------------------------------===*/

typedef struct tessel_options tessel_options;

TESSEL_EXPORT tessel_options *tessel_options_create(void);
TESSEL_EXPORT void tessel_options_free(tessel_options *);
/* Pins input `name`'s shape (an ONNX model's dynamic dimensions). */
TESSEL_EXPORT tessel_status *
tessel_options_set_input_shape(tessel_options *, const char *name,
                               const int64_t *dims, size_t rank);
/* The device mesh, "x=2,y=4"; "" for one device. */
TESSEL_EXPORT tessel_status *tessel_options_set_mesh(tessel_options *,
                                                     const char *mesh);
/* A partition spec for the tensor a model names `tensor`, in the plan
 * format's JSON form: "[\"x\", null]" (a node's operand is addressed
 * through set_plan_text). */
TESSEL_EXPORT tessel_status *
tessel_options_set_partition_spec(tessel_options *, const char *tensor,
                                  const char *spec);
/* A whole plan, as tessel-compile --plan reads it (protobuf text); its
 * tensors are added to those of set_partition_spec. */
TESSEL_EXPORT tessel_status *tessel_options_set_plan_text(tessel_options *,
                                                          const char *text);
/* Lets the cost model choose what the plan leaves open, searching for at
 * most `seconds` (> 0). */
TESSEL_EXPORT tessel_status *tessel_options_set_auto(tessel_options *,
                                                     int enabled,
                                                     double seconds);
/* Without auto: prices the plan as given (the mesh and plan as propagation
 * completes them) with the device profile's cost model, as tessel-compile
 * --price; tessel_executable_modeled_cost then gives its figures. */
TESSEL_EXPORT tessel_status *tessel_options_set_price(tessel_options *,
                                                      int enabled);
/* What auto prices plans for: "host", "h100_sxm", "a100_sxm", or a device
 * profile file. */
TESSEL_EXPORT tessel_status *
tessel_options_set_device_profile(tessel_options *, const char *profile);
/* Bytes per device that auto's plan must fit in; 0: the profile's. */
TESSEL_EXPORT tessel_status *
tessel_options_set_memory_budget(tessel_options *, int64_t bytes);
/* With an attention's sequence split: "always" passes keys and values
 * around a ring of devices in blocks (each holds 1/n of them; a causal
 * attention's work balanced across the ring), "unbalanced" the ring with
 * every device scoring every block under the mask, "never" gathers them
 * whole, "auto" (the default) gathers them unless a device then needs more
 * than the memory budget. */
TESSEL_EXPORT tessel_status *
tessel_options_set_ring_attention(tessel_options *, const char *mode);
/* Starts each collective as soon as its operand is ready and waits for it
 * just before its result is read, at most `in_flight` at once, the work
 * between running meanwhile (tessel-compile --overlap-collectives); 0 (the
 * default): each runs where it stands. */
TESSEL_EXPORT tessel_status *
tessel_options_set_overlap_collectives(tessel_options *, int in_flight);
/* Compiles one training step instead of the forward pass (as
 * tessel-compile --train): `loss` "cross_entropy:logits,labels" or
 * "mse:y,target", `optimizer` "sgd:lr=0.1", "momentum:...", "adam:...",
 * "adamw:...", `frozen` parameters kept as they are ("a,b"; NULL: none),
 * `batch_norm` "eval" or "train[:momentum=0.1]" (NULL: eval). */
TESSEL_EXPORT tessel_status *
tessel_options_set_training(tessel_options *, const char *loss,
                            const char *optimizer, const char *frozen,
                            const char *batch_norm);

/*===--- Compiling and inspecting -------------------------------------------===*/

typedef struct tessel_executable tessel_executable;

/* An ONNX (.onnx) or MLIR (.mlir) file. */
TESSEL_EXPORT tessel_status *tessel_compile_file(const char *path,
                                                 const tessel_options *,
                                                 tessel_executable **out);
/* The bytes of an ONNX ModelProto. */
TESSEL_EXPORT tessel_status *tessel_compile_onnx(const void *bytes,
                                                 size_t size,
                                                 const tessel_options *,
                                                 tessel_executable **out);
/* MLIR text in Tessel's dialects. */
TESSEL_EXPORT tessel_status *tessel_compile_mlir(const char *text,
                                                 size_t size,
                                                 const tessel_options *,
                                                 tessel_executable **out);
/* An executable tessel-compile or tessel_executable_save wrote, with its
 * parameter file beside it. */
TESSEL_EXPORT tessel_status *tessel_executable_read(const char *path,
                                                    tessel_executable **out);
/* Writes `path` and its parameters at `path`.params. */
TESSEL_EXPORT tessel_status *
tessel_executable_save(const tessel_executable *, const char *path);
TESSEL_EXPORT void tessel_executable_free(tessel_executable *);

TESSEL_EXPORT int tessel_executable_num_devices(const tessel_executable *);
TESSEL_EXPORT size_t tessel_executable_num_inputs(const tessel_executable *);
TESSEL_EXPORT size_t tessel_executable_num_outputs(const tessel_executable *);

/* An input or output of the program, as it takes or makes it. */
typedef struct tessel_tensor_info {
  const char *name;
  tessel_element_type type;
  const int64_t *dims;
  size_t rank;
} tessel_tensor_info;

TESSEL_EXPORT tessel_status *
tessel_executable_input(const tessel_executable *, size_t index,
                        tessel_tensor_info *info);
TESSEL_EXPORT tessel_status *
tessel_executable_output(const tessel_executable *, size_t index,
                         tessel_tensor_info *info);

/* The sharding of every named tensor, as tessel-compile --emit=plan
 * prints it (protobuf text); empty on one device or for an executable
 * read from a file. */
TESSEL_EXPORT char *tessel_executable_plan(const tessel_executable *);
/* The collectives of one step: how many kinds, then each kind's name
 * ("all_reduce", ...), count and bytes per device. */
TESSEL_EXPORT size_t
tessel_executable_num_collective_kinds(const tessel_executable *);
TESSEL_EXPORT tessel_status *
tessel_executable_collective(const tessel_executable *, size_t index,
                             const char **kind, int64_t *count,
                             int64_t *bytes_per_device);
/* Bytes device `device` holds while it runs: its arena (activations and
 * collective buffers), inputs and parameters. */
TESSEL_EXPORT tessel_status *
tessel_executable_device_memory(const tessel_executable *, int device,
                                int64_t *bytes);
/* What auto's cost model says of its plan (or of the plan given, with
 * set_price): modeled seconds per step of compute and of communication,
 * peak bytes per device. NOT_FOUND when the plan was neither chosen by auto
 * nor priced. */
TESSEL_EXPORT tessel_status *
tessel_executable_modeled_cost(const tessel_executable *,
                               double *compute_seconds,
                               double *communication_seconds,
                               int64_t *peak_bytes);
/* Of that peak (API 1.3): the runtime's own bytes per device (the device
 * profile's runtime_bytes) and the largest workspace of the plan's
 * collectives (its collective_workspace); both 0 with a profile that does
 * not measure them. NOT_FOUND as tessel_executable_modeled_cost. */
TESSEL_EXPORT tessel_status *
tessel_executable_modeled_memory(const tessel_executable *,
                                 int64_t *runtime_bytes,
                                 int64_t *workspace_bytes);

/*===--- Running ------------------------------------------------------------===*/

typedef struct tessel_runner tessel_runner;

/* Loads the executable on host threads (one per device, `threads` cores in
 * all; 0: every core). The runner keeps what it needs: the executable may
 * be freed after. */
TESSEL_EXPORT tessel_status *
tessel_runner_create(const tessel_executable *, int threads,
                     tessel_runner **out);
/* Runs one step: `inputs` in the program's input order with its global
 * shapes, results written into `outputs` (each of an output's type and
 * shape). */
TESSEL_EXPORT tessel_status *
tessel_runner_run(tessel_runner *, const tessel_tensor *inputs,
                  size_t num_inputs, const tessel_tensor *outputs,
                  size_t num_outputs);
/* A training step (an executable compiled with training options): `inputs`
 * are the step's (the inputs no output updates: the batch and the labels,
 * in the program's order), `outputs` receive the step's (the loss). The
 * parameters and optimizer state stay on the devices, updated in place. */
TESSEL_EXPORT tessel_status *
tessel_runner_step(tessel_runner *, const tessel_tensor *inputs,
                   size_t num_inputs, const tessel_tensor *outputs,
                   size_t num_outputs);
/* Steps taken, counting those of a loaded checkpoint. */
TESSEL_EXPORT int64_t tessel_runner_steps_taken(const tessel_runner *);
/* Writes the state (parameters, optimizer state) and the steps taken at
 * `path`, atomically; tessel-run --resume reads it too. */
TESSEL_EXPORT tessel_status *tessel_runner_save_checkpoint(tessel_runner *,
                                                           const char *path);
/* Sets the state and the steps taken from a checkpoint of this step. */
TESSEL_EXPORT tessel_status *tessel_runner_load_checkpoint(tessel_runner *,
                                                           const char *path);
/* Writes the model's parameters as trained so far: a parameter file the
 * forward model runs with. */
TESSEL_EXPORT tessel_status *tessel_runner_save_params(tessel_runner *,
                                                       const char *path);
TESSEL_EXPORT void tessel_runner_free(tessel_runner *);

#ifdef __cplusplus
}
#endif

#endif /* TESSEL_TESSEL_H */
