// trainer/verbs.h — one entry point per CLI verb (argv[1] is the verb; options follow).
#ifndef QP_TRAINER_VERBS_H
#define QP_TRAINER_VERBS_H
int cmd_info(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_ppl(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_error(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
#endif
