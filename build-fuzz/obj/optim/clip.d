build-fuzz/obj/optim/clip.o: optim/clip.c optim/clip.h

optim/clip.h:
