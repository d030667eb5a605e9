/* A C program using Tessel as a user would: #include <tessel/tessel.h>,
 * built with `cc program.c $(pkg-config --cflags --libs tessel)`.
 *
 *   program MODEL.onnx X.npy EXPECTED.npy SCRATCH_DIR
 *
 * Compiles the MLP for 4 host devices (a plan, then the cost model on a
 * 2x2 mesh), runs it on x and compares with torch's output; saves, reads
 * back and runs again; and checks that bad input comes back as statuses.
 * Prints "ok" and exits 0 when all of that holds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tessel/tessel.h>

static int failures = 0;

#define CHECK(condition, ...)                                                  \
  do {                                                                         \
    if (!(condition)) {                                                        \
      fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__);                   \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Ends the program on an unexpected error, printing its message. */
static void ok(tessel_status *status, const char *what) {
  if (!status)
    return;
  fprintf(stderr, "FAILED: %s: %s\n", what, tessel_status_message(status));
  tessel_status_free(status);
  exit(1);
}

/* A little-endian f32 .npy file's data; *count its elements. */
static float *readNpy(const char *path, size_t *count) {
  FILE *file = fopen(path, "rb");
  if (!file) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(1);
  }
  unsigned char head[12];
  if (fread(head, 1, 10, file) != 10 || memcmp(head, "\x93NUMPY", 6) != 0) {
    fprintf(stderr, "%s is not a .npy file\n", path);
    exit(1);
  }
  size_t headerBytes = head[8] | (head[9] << 8);
  if (head[6] >= 2) {
    if (fread(head + 10, 1, 2, file) != 2)
      exit(1);
    headerBytes |= ((size_t)head[10] << 16) | ((size_t)head[11] << 24);
  }
  char *header = malloc(headerBytes + 1);
  if (fread(header, 1, headerBytes, file) != headerBytes)
    exit(1);
  header[headerBytes] = 0;
  if (!strstr(header, "'<f4'") || strstr(header, "'fortran_order': True")) {
    fprintf(stderr, "%s: expected C-ordered float32, header %s\n", path,
            header);
    exit(1);
  }
  free(header);
  long start = ftell(file);
  fseek(file, 0, SEEK_END);
  size_t bytes = (size_t)(ftell(file) - start);
  fseek(file, start, SEEK_SET);
  float *data = malloc(bytes);
  if (fread(data, 1, bytes, file) != bytes)
    exit(1);
  fclose(file);
  *count = bytes / sizeof(float);
  return data;
}

static const int64_t kInputDims[] = {4, 64};
static const int64_t kOutputDims[] = {4, 10};

/* Runs `executable` on x and compares with `expected`. */
static void runAndCompare(const tessel_executable *executable, float *x,
                          const float *expected, const char *what) {
  tessel_runner *runner = NULL;
  ok(tessel_runner_create(executable, 2, &runner), "tessel_runner_create");
  float y[40];
  for (int i = 0; i < 40; ++i)
    y[i] = NAN;
  tessel_tensor input = {TESSEL_F32, kInputDims, 2, x, 4 * 64 * sizeof(float)};
  tessel_tensor output = {TESSEL_F32, kOutputDims, 2, y, sizeof(y)};
  /* Twice: the second run reuses everything the first set up. */
  for (int run = 0; run < 2; ++run) {
    ok(tessel_runner_run(runner, &input, 1, &output, 1), "tessel_runner_run");
    double worst = 0;
    for (int i = 0; i < 40; ++i) {
      double error = fabs((double)y[i] - expected[i]);
      if (!(error <= worst))
        worst = isnan(error) ? INFINITY : error;
    }
    CHECK(worst <= 1e-4, "%s: largest difference from torch %g", what, worst);
  }

  /* A wrong shape is a status naming the input, not a crash. */
  int64_t wrong[] = {4, 63};
  tessel_tensor bad = {TESSEL_F32, wrong, 2, x, 4 * 63 * sizeof(float)};
  tessel_status *status = tessel_runner_run(runner, &bad, 1, &output, 1);
  CHECK(status && tessel_status_get_code(status) == TESSEL_INVALID_ARGUMENT &&
            strstr(tessel_status_message(status), "input 'x'"),
        "%s: a wrong input shape: %s", what,
        status ? tessel_status_message(status) : "accepted");
  tessel_status_free(status);
  tessel_runner_free(runner);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s MODEL X.npy EXPECTED.npy SCRATCH_DIR\n",
            argv[0]);
    return 2;
  }
  if (tessel_api_version() >> 16 != TESSEL_API_VERSION_MAJOR) {
    fprintf(stderr, "libtessel has API %u, this program was built for %d\n",
            tessel_api_version() >> 16, TESSEL_API_VERSION_MAJOR);
    return 1;
  }
  size_t xCount = 0, expectedCount = 0;
  float *x = readNpy(argv[2], &xCount);
  float *expected = readNpy(argv[3], &expectedCount);
  if (xCount != 4 * 64 || expectedCount != 40) {
    fprintf(stderr, "unexpected test data sizes %zu, %zu\n", xCount,
            expectedCount);
    return 1;
  }

  /* 4 devices by a plan: the batch split over x. */
  tessel_options *options = tessel_options_create();
  ok(tessel_options_set_input_shape(options, "x", kInputDims, 2), "shape");
  ok(tessel_options_set_mesh(options, "x=4"), "mesh");
  ok(tessel_options_set_partition_spec(options, "x", "[\"x\", null]"), "spec");
  tessel_executable *executable = NULL;
  ok(tessel_compile_file(argv[1], options, &executable), "compile (plan)");
  CHECK(tessel_executable_num_devices(executable) == 4, "devices: %d",
        tessel_executable_num_devices(executable));
  CHECK(tessel_executable_num_inputs(executable) == 1 &&
            tessel_executable_num_outputs(executable) == 1,
        "inputs and outputs");
  tessel_tensor_info info;
  ok(tessel_executable_input(executable, 0, &info), "input info");
  CHECK(strcmp(info.name, "x") == 0 && info.type == TESSEL_F32 &&
            info.rank == 2 && info.dims[0] == 4 && info.dims[1] == 64,
        "input 0 is %s", info.name);
  tessel_status *status = tessel_executable_input(executable, 1, &info);
  CHECK(status && tessel_status_get_code(status) == TESSEL_OUT_OF_RANGE,
        "input 1 exists");
  tessel_status_free(status);
  char *plan = tessel_executable_plan(executable);
  CHECK(strstr(plan, "name: \"x\""), "plan:\n%s", plan);
  tessel_string_free(plan);
  int64_t memory = 0;
  ok(tessel_executable_device_memory(executable, 3, &memory), "memory");
  CHECK(memory > 0, "device 3 holds %lld bytes", (long long)memory);
  printf("plan on x=4: %zu collective kind(s), device 3 holds %lld bytes\n",
         tessel_executable_num_collective_kinds(executable), (long long)memory);
  runAndCompare(executable, x, expected, "plan on x=4");
  /* Compiled without auto or price, the plan has no modeled cost. */
  status = tessel_executable_modeled_cost(executable, NULL, NULL, NULL);
  CHECK(status && tessel_status_get_code(status) == TESSEL_NOT_FOUND &&
            strstr(tessel_status_message(status), "price"),
        "modeled cost of a plan not priced: %s",
        status ? tessel_status_message(status) : "given");
  tessel_status_free(status);
  status = tessel_executable_modeled_memory(executable, NULL, NULL);
  CHECK(status && tessel_status_get_code(status) == TESSEL_NOT_FOUND,
        "modeled memory of a plan not priced: %s",
        status ? tessel_status_message(status) : "given");
  tessel_status_free(status);
  status = tessel_executable_modeled_memory(NULL, NULL, NULL);
  CHECK(status && tessel_status_get_code(status) == TESSEL_INVALID_ARGUMENT &&
            strstr(tessel_status_message(status),
                   "tessel_executable_modeled_memory"),
        "modeled memory of no executable: %s",
        status ? tessel_status_message(status) : "given");
  tessel_status_free(status);

  /* The same plan priced: its modeled step and peak memory per device. */
  tessel_options *priced = tessel_options_create();
  ok(tessel_options_set_input_shape(priced, "x", kInputDims, 2), "shape");
  ok(tessel_options_set_mesh(priced, "x=4"), "mesh");
  ok(tessel_options_set_partition_spec(priced, "x", "[\"x\", null]"), "spec");
  ok(tessel_options_set_price(priced, 1), "price");
  tessel_executable *pricedExecutable = NULL;
  ok(tessel_compile_file(argv[1], priced, &pricedExecutable),
     "compile (priced)");
  double pricedCompute = 0;
  int64_t pricedPeak = 0;
  ok(tessel_executable_modeled_cost(pricedExecutable, &pricedCompute, NULL,
                                    &pricedPeak),
     "modeled cost (priced)");
  CHECK(pricedCompute > 0 && pricedPeak > 0, "priced compute %g, peak %lld",
        pricedCompute, (long long)pricedPeak);
  /* The host profile measures neither the runtime's memory nor the
   * collectives' workspace: neither is part of the peak. */
  int64_t runtimeBytes = -1, workspaceBytes = -1;
  ok(tessel_executable_modeled_memory(pricedExecutable, &runtimeBytes,
                                      &workspaceBytes),
     "modeled memory (priced)");
  CHECK(runtimeBytes == 0 && workspaceBytes == 0,
        "runtime %lld, workspace %lld bytes with the host profile",
        (long long)runtimeBytes, (long long)workspaceBytes);
  printf("plan on x=4 priced: %g s per step, %lld bytes per device\n",
         pricedCompute, (long long)pricedPeak);
  runAndCompare(pricedExecutable, x, expected, "priced plan on x=4");
  tessel_executable_free(pricedExecutable);
  /* Pricing the plan given and choosing one are exclusive. */
  ok(tessel_options_set_auto(priced, 1, 1.0), "auto");
  pricedExecutable = NULL;
  status = tessel_compile_file(argv[1], priced, &pricedExecutable);
  CHECK(status && tessel_status_get_code(status) == TESSEL_INVALID_ARGUMENT &&
            !pricedExecutable,
        "auto with price: %s", status ? tessel_status_message(status) : "ok");
  tessel_status_free(status);
  tessel_options_free(priced);

  /* Saved, freed, read back. */
  char path[4096];
  snprintf(path, sizeof(path), "%s/c_program.tessel", argv[4]);
  ok(tessel_executable_save(executable, path), "save");
  tessel_executable_free(executable);
  executable = NULL;
  ok(tessel_executable_read(path, &executable), "read");
  runAndCompare(executable, x, expected, "read back");
  tessel_executable_free(executable);

  /* 4 devices as a 2x2 mesh, the plan chosen by the cost model. */
  tessel_options *automatic = tessel_options_create();
  ok(tessel_options_set_input_shape(automatic, "x", kInputDims, 2), "shape");
  ok(tessel_options_set_mesh(automatic, "x=2,y=2"), "mesh");
  ok(tessel_options_set_auto(automatic, 1, 2.0), "auto");
  ok(tessel_options_set_memory_budget(automatic, 1 << 30), "budget");
  ok(tessel_compile_file(argv[1], automatic, &executable), "compile (auto)");
  double compute = 0, communication = 0;
  int64_t peak = 0;
  ok(tessel_executable_modeled_cost(executable, &compute, &communication,
                                    &peak),
     "modeled cost");
  CHECK(compute > 0 && peak > 0, "modeled compute %g, peak %lld", compute,
        (long long)peak);
  for (size_t k = 0; k < tessel_executable_num_collective_kinds(executable);
       ++k) {
    const char *kind = NULL;
    int64_t count = 0, bytes = 0;
    ok(tessel_executable_collective(executable, k, &kind, &count, &bytes),
       "collective");
    printf("auto on x=2,y=2: %lld %s, %lld bytes per device\n",
           (long long)count, kind, (long long)bytes);
  }
  runAndCompare(executable, x, expected, "auto on x=2,y=2");
  tessel_executable_free(executable);
  tessel_options_free(automatic);

  /* A training step: the batch split over 2 devices, 3 AdamW steps; a
   * checkpoint after the second, loaded into another runner, gives the
   * third step's loss to the bit; the trained parameters are written. */
  tessel_options *training = tessel_options_create();
  ok(tessel_options_set_input_shape(training, "x", kInputDims, 2), "shape");
  ok(tessel_options_set_mesh(training, "x=2"), "mesh");
  ok(tessel_options_set_partition_spec(training, "x", "[\"x\", null]"), "spec");
  ok(tessel_options_set_training(training, "cross_entropy:output,labels",
                                 "adamw:lr=0.01", NULL, NULL),
     "training");
  /* The gradient all-reduces overlapped with the backward pass. */
  ok(tessel_options_set_overlap_collectives(training, 2), "overlap");
  ok(tessel_compile_file(argv[1], training, &executable), "compile (train)");
  tessel_runner *trainer = NULL, *resumed = NULL;
  ok(tessel_runner_create(executable, 2, &trainer), "trainer");
  ok(tessel_runner_create(executable, 2, &resumed), "resumed trainer");
  int64_t labels[4] = {1, 7, 3, 0};
  const int64_t labelDims[1] = {4};
  const int64_t scalarDims[1] = {0};
  tessel_tensor stepInputs[2] = {
      {TESSEL_F32, kInputDims, 2, x, xCount * sizeof(float)},
      {TESSEL_I64, labelDims, 1, labels, sizeof(labels)}};
  float losses[3] = {0, 0, 0}, again = 0;
  for (int s = 0; s < 3; ++s) {
    tessel_tensor loss = {TESSEL_F32, scalarDims, 0, &losses[s], sizeof(float)};
    ok(tessel_runner_step(trainer, stepInputs, 2, &loss, 1), "step");
    if (s == 1) {
      snprintf(path, sizeof(path), "%s/c_program.ckpt", argv[4]);
      ok(tessel_runner_save_checkpoint(trainer, path), "save checkpoint");
    }
  }
  CHECK(losses[2] < losses[0], "the loss did not fall: %g, %g, %g", losses[0],
        losses[1], losses[2]);
  CHECK(tessel_runner_steps_taken(trainer) == 3, "steps taken %lld",
        (long long)tessel_runner_steps_taken(trainer));
  ok(tessel_runner_load_checkpoint(resumed, path), "load checkpoint");
  CHECK(tessel_runner_steps_taken(resumed) == 2, "resumed at step %lld",
        (long long)tessel_runner_steps_taken(resumed));
  tessel_tensor loss = {TESSEL_F32, scalarDims, 0, &again, sizeof(float)};
  ok(tessel_runner_step(resumed, stepInputs, 2, &loss, 1), "resumed step");
  CHECK(memcmp(&again, &losses[2], sizeof(float)) == 0,
        "resumed step's loss %.9g, uninterrupted %.9g", again, losses[2]);
  snprintf(path, sizeof(path), "%s/c_program.trained.params", argv[4]);
  ok(tessel_runner_save_params(trainer, path), "save params");
  status = tessel_runner_step(trainer, stepInputs, 1, &loss, 1);
  CHECK(status != NULL, "a step without its labels accepted");
  tessel_status_free(status);
  tessel_runner_free(trainer);
  tessel_runner_free(resumed);
  tessel_executable_free(executable);
  tessel_options_free(training);

  /* Bad input: statuses with messages, nothing crashes. */
  status = tessel_options_set_mesh(options, "x=two");
  CHECK(status && strlen(tessel_status_message(status)) > 0, "a bad mesh");
  tessel_status_free(status);
  executable = NULL;
  status = tessel_compile_onnx("not a model", 11, options, &executable);
  CHECK(status && !executable, "garbage bytes compiled");
  tessel_status_free(status);
  status = tessel_compile_mlir("func.func @main( {", 18, NULL, &executable);
  CHECK(status && strstr(tessel_status_message(status), "error"),
        "broken MLIR: %s", status ? tessel_status_message(status) : "accepted");
  tessel_status_free(status);
  status = tessel_compile_file("/nonexistent.onnx", options, &executable);
  CHECK(status && strstr(tessel_status_message(status), "/nonexistent.onnx"),
        "a missing file: %s",
        status ? tessel_status_message(status) : "accepted");
  tessel_status_free(status);
  ok(tessel_options_set_partition_spec(options, "no_such_tensor",
                                       "[\"x\", null]"),
     "spec");
  status = tessel_compile_file(argv[1], options, &executable);
  CHECK(status && strstr(tessel_status_message(status), "no_such_tensor"),
        "an unknown tensor in the plan: %s",
        status ? tessel_status_message(status) : "accepted");
  tessel_status_free(status);
  status = tessel_options_set_auto(options, 1, -1.0);
  CHECK(status && strstr(tessel_status_message(status), "must be > 0"),
        "a negative search time accepted");
  tessel_status_free(status);
  status = tessel_options_set_memory_budget(options, -5);
  CHECK(status != NULL, "a negative memory budget accepted");
  tessel_status_free(status);
  status = tessel_options_set_ring_attention(options, "sometimes");
  CHECK(status && strstr(tessel_status_message(status), "'sometimes'"),
        "an unknown ring attention mode accepted");
  tessel_status_free(status);
  ok(tessel_options_set_ring_attention(options, "always"), "ring attention");
  status = tessel_options_set_overlap_collectives(options, -1);
  CHECK(status && strstr(tessel_status_message(status), "-1 in flight"),
        "a negative overlap accepted");
  tessel_status_free(status);
  status = tessel_runner_create(NULL, 0, NULL);
  CHECK(status != NULL, "NULL arguments accepted");
  tessel_status_free(status);
  tessel_options_free(options);
  tessel_executable_free(NULL);
  tessel_runner_free(NULL);
  tessel_status_free(NULL);

  free(x);
  free(expected);
  if (failures)
    return 1;
  printf("ok\n");
  return 0;
}
